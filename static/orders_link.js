// /orders: "Email me a link" (POST /api/buyers/orders-link). The answer is the same whether or not
// the address has orders.

import { t } from "./common/i18n.js";
const form = document.getElementById("orders-link-form");
const status = document.getElementById("orders-link-status");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = form.elements.email.value.trim();
  if (!email.includes("@")) {
    status.textContent = t("orders_link.enter_email");
    return;
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const answer = await fetch("/api/buyers/orders-link", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email }),
    });
    const body = await answer.json().catch(() => ({}));
    // The server's sentences are English: the page says the same in its own language.
    status.textContent = answer.ok ? t("orders_link.sent")
      : answer.status === 429 ? t("orders_link.rate_limited") : t("orders_link.failed");
  } catch {
    status.textContent = t("orders_link.offline");
  } finally {
    button.disabled = false;
  }
});
