// Paying with Stripe (LIVEDROP_PAYMENTS=stripe, docs/payments.md): the card is typed into Stripe.js's
// card element, so its number goes to Stripe and never to livedrop. The sheet's own card field is
// hidden; the checkout is three calls: POST .../payment (the hold's PaymentIntent), confirm it with
// a payment method Stripe.js made (3-D Secure handled by Stripe.js), then POST .../checkout.
//
// Stripe.js's createPaymentMethod makes the payment method; localstripe's stand-in for Stripe.js
// (the tests) answers nothing there and has only createToken, whose card id it takes instead.

import { api, ApiError } from "../common/api.js";
import { byId, show } from "./dom.js";

let loading = null;

function loadStripeJs(url) {
  if (window.Stripe) return Promise.resolve();
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.onload = () => resolve();
    script.onerror = () => { loading = null; reject(new ApiError(0, "network", "could not load Stripe.js")); };
    document.head.append(script);
  });
  return loading;
}

/** Stripe.js's own refusals, as the sheet's refusals (it already words payment_declined). */
function refused(error) {
  const declined = error?.type === "card_error" || error?.code === "card_declined";
  return new ApiError(402, declined ? "payment_declined" : "invalid_request",
    error?.message || "the card was not accepted", null, { error });
}

export class StripeCheckout {
  /** The page's payment settings (web/routes/viewer.py): a StripeCheckout, or null (test provider). */
  static fromPage() {
    const page = JSON.parse(byId("livedrop-page").textContent);
    return page.payments?.provider === "stripe" ? new StripeCheckout(page.payments) : null;
  }

  constructor(config) {
    this.config = config; // {provider, publishable_key, stripe_js_url}
    this.stripe = null;
    this.card = null;
  }

  /** Hide the sheet's card-number field and put Stripe.js's card element in its place (once). */
  async mount() {
    const input = byId("co-card");
    input.required = false;
    show(input.closest(".field"), false);
    if (this.card) return;
    await loadStripeJs(this.config.stripe_js_url);
    this.stripe = window.Stripe(this.config.publishable_key);
    const holder = document.createElement("div");
    holder.className = "field";
    holder.id = "stripe-card";
    const label = document.createElement("p");
    label.textContent = "Card (handled by Stripe; it never reaches this shop)";
    const element = document.createElement("div");
    element.id = "stripe-card-element";
    holder.append(label, element);
    input.closest(".field").after(holder);
    this.card = this.stripe.elements().create("card");
    this.card.mount(element);
  }

  async _paymentMethod(details) {
    const method = await this.stripe.createPaymentMethod({
      type: "card", card: this.card, billing_details: { name: details.name, email: details.email },
    });
    if (method) { // localstripe's stand-in answers nothing here: it has only createToken
      if (method.error) throw refused(method.error);
      return method.paymentMethod.id;
    }
    const made = await this.stripe.createToken(this.card);
    if (made.error) throw refused(made.error);
    return made.token.card.id;
  }

  /** Pay for the hold; resolves to the order (as POST .../checkout answers it). */
  async pay(holdId, details) {
    try {
      return await this._pay(holdId, details);
    } catch (err) {
      if (!(err instanceof ApiError)) console.error("stripe checkout:", err); // the sheet says "couldn't reach"
      throw err;
    }
  }

  async _pay(holdId, details) {
    if (!this.card) await this.mount();
    const hold = encodeURIComponent(holdId);
    let payment = await api(`/api/holds/${hold}/payment`, { method: "POST", body: details });
    if (!payment.order_id && payment.status !== "succeeded") {
      const method = await this._paymentMethod(details);
      payment = await api(`/api/holds/${hold}/payment`, { method: "POST", body: { ...details, payment_method: method } });
      if (payment.status === "requires_action") {
        const done = await this.stripe.confirmCardPayment(payment.client_secret);
        if (done.error) throw refused(done.error);
      }
    }
    return api(`/api/holds/${hold}/checkout`, { method: "POST", body: details });
  }
}
