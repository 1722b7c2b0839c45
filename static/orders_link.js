// /orders: "Email me a link" (POST /api/buyers/orders-link). The answer is the same whether or not
// the address has orders; the page says what the server said.
const form = document.getElementById("orders-link-form");
const status = document.getElementById("orders-link-status");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = form.elements.email.value.trim();
  if (!email.includes("@")) {
    status.textContent = "Enter the email address you used at checkout.";
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
    status.textContent = answer.ok
      ? body.message
      : (body.error && body.error.message) || "Something went wrong; try again in a minute.";
  } catch {
    status.textContent = "You seem to be offline; try again when you are connected.";
  } finally {
    button.disabled = false;
  }
});
