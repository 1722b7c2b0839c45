// The receipt's "Message the seller about this order" (docs/threads.md): shown to the order's own
// buyer (this browser's cookie); the message starts or continues the thread, the order attached.

import { api, ApiError } from "./common/api.js";
import { t } from "./common/i18n.js";

/** The words this module writes, in the page's language (t(), static/i18n/*.json). */
const TEXT = {
  get sending() { return t("thread.sending"); },
  get sent() { return t("thread.sent_receipt"); },
  errors: {
    get message_too_long() { return t("thread.error.too_long"); },
    get thread_closed() { return t("thread.error.closed"); },
    get blocked() { return t("thread.error.blocked"); },
    get rate_limited() { return t("thread.error.rate_limited"); },
    get not_found() { return t("thread.error.not_found"); },
  },
  get failed() { return t("thread.failed"); },
  get openPage() { return t("thread.open_page"); },
};

const form = document.getElementById("ask-seller");
if (form) {
  form.hidden = false;
  const box = document.getElementById("ask-seller-text");
  const status = document.getElementById("ask-seller-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!box.value.trim()) return;
    status.textContent = TEXT.sending;
    try {
      const posted = await api("/api/threads", { method: "POST", body: { order_id: form.dataset.orderId, text: box.value } });
      box.value = "";
      status.textContent = TEXT.sent;
      // The conversation's own page, live (static/thread_page.js): the seller's answer shows there.
      let open = document.getElementById("ask-seller-open");
      if (!open) {
        open = document.createElement("a");
        open.id = "ask-seller-open";
        status.after(open);
      }
      open.href = `/threads/${encodeURIComponent(posted.thread.id)}`;
      open.textContent = TEXT.openPage;
    } catch (err) {
      status.textContent = (err instanceof ApiError && TEXT.errors[err.code]) || TEXT.failed;
    }
  });
}
