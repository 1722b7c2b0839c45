// Paying with Stripe (LIVEDROP_PAYMENTS=stripe, docs/payments.md): the card is typed into Stripe.js's
// card element, so its number goes to Stripe and never to livedrop. The sheet's own card field is
// hidden; the checkout is three calls: POST .../payment (the hold's PaymentIntent), confirm it with
// a payment method Stripe.js made (3-D Secure handled by Stripe.js), then POST .../checkout.
// The show's bag pays the same way with its own calls (POST /api/shows/{slug}/bag/payment, one
// PaymentIntent for the bag's total, then .../bag/checkout; docs/bag.md) and its own card element.
//
// Stripe.js's createPaymentMethod makes the payment method; localstripe's stand-in for Stripe.js
// (the tests) answers nothing there and has only createToken, whose card id it takes instead.

import { api, ApiError } from "../common/api.js";
import { byId, show } from "./dom.js";
import { LOCALE, t } from "../common/i18n.js";

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
  static fromPage(place = undefined) {
    const page = JSON.parse(byId("livedrop-page").textContent);
    return page.payments?.provider === "stripe" ? new StripeCheckout(page.payments, place) : null;
  }

  /**
   * @param config the page's payment settings: {provider, publishable_key, stripe_js_url}
   * @param place which card-number field the card element replaces: the checkout sheet's (the
   *   default) or the bag's ({cardInput: "bag-card", holder: "bag-stripe-card", fieldClass: "bag-field"}).
   */
  constructor(config, { cardInput = "co-card", holder = "stripe-card", fieldClass = "field" } = {}) {
    this.config = config;
    this.place = { cardInput, holder, fieldClass };
    this.stripe = null;
    this.card = null;
  }

  /** Hide the form's card-number field and put Stripe.js's card element in its place (once). */
  async mount() {
    const { cardInput, fieldClass } = this.place;
    const input = byId(cardInput);
    input.required = false;
    const field = input.closest(`.${fieldClass}`);
    show(field, false);
    if (this.card) return;
    await loadStripeJs(this.config.stripe_js_url);
    this.stripe = window.Stripe(this.config.publishable_key);
    const holder = document.createElement("div");
    holder.className = fieldClass;
    holder.id = this.place.holder;
    const label = document.createElement("p");
    label.textContent = t("stripe.card_label");
    const element = document.createElement("div");
    element.id = `${this.place.holder}-element`;
    holder.append(label, element);
    field.after(holder);
    this.card = this.stripe.elements({ locale: LOCALE }).create("card"); // Stripe's own field in the page's language
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

  /** A payment method made from the card element (a draw's entry authorizes with it: viewer/draw.js). */
  async paymentMethod(details) {
    if (!this.card) await this.mount();
    return this._paymentMethod(details);
  }

  /** Pay for the hold; resolves to the order (as POST .../checkout answers it). */
  pay(holdId, details) {
    const hold = encodeURIComponent(holdId);
    return this._guarded(`/api/holds/${hold}/payment`, `/api/holds/${hold}/checkout`, details);
  }

  /** Pay for several holds of the show's bag with one payment; resolves to the one order. */
  payBag(slug, holdIds, details) {
    const show = encodeURIComponent(slug);
    return this._guarded(`/api/shows/${show}/bag/payment`, `/api/shows/${show}/bag/checkout`, { ...details, hold_ids: holdIds });
  }

  async _guarded(paymentUrl, checkoutUrl, body) {
    try {
      return await this._pay(paymentUrl, checkoutUrl, body);
    } catch (err) {
      if (!(err instanceof ApiError)) console.error("stripe checkout:", err); // the sheet says "couldn't reach"
      throw err;
    }
  }

  async _pay(paymentUrl, checkoutUrl, body) {
    if (!this.card) await this.mount();
    let payment = await api(paymentUrl, { method: "POST", body });
    if (!payment.order_id && payment.status !== "succeeded") {
      const method = await this._paymentMethod(body);
      payment = await api(paymentUrl, { method: "POST", body: { ...body, payment_method: method } });
      if (payment.status === "requires_action") {
        const done = await this.stripe.confirmCardPayment(payment.client_secret);
        if (done.error) throw refused(done.error);
      }
    }
    return api(checkoutUrl, { method: "POST", body });
  }
}
