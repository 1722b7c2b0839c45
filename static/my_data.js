// The orders page's "Your data" (docs/privacy.md): the download is a plain link; erasure asks first.

import { api, ApiError } from "./common/api.js";
import { t } from "./common/i18n.js";

/** The words this module writes, in the page's language (t(), static/i18n/*.json). */
const TEXT = {
  get confirm() { return t("mydata.confirm"); },
  get erasing() { return t("mydata.erasing"); },
  get done() { return t("mydata.done"); },
  get failed() { return t("mydata.failed"); },
  get rate_limited() { return t("mydata.rate_limited"); },
};

const button = document.getElementById("my-data-erase");
const status = document.getElementById("my-data-status");
button.addEventListener("click", async () => {
  if (!window.confirm(TEXT.confirm)) return;
  status.textContent = TEXT.erasing;
  try {
    await api("/api/buyers/me/erase", { method: "POST" });
    status.textContent = TEXT.done;
    button.disabled = true;
  } catch (err) {
    status.textContent = err instanceof ApiError && err.code === "rate_limited" ? TEXT.rate_limited : TEXT.failed;
  }
});
