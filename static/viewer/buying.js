// Buying: a buy press makes a hold (one Idempotency-Key per press, reused only when that same
// press is retried), the hold counts down visibly, the checkout sheet pays for it, and the
// confirmation links the receipt. Every refusal becomes a plain sentence with a next step.

import { api, ApiError, newKey, refusalText } from "../common/api.js";
import { formatCountdown, formatMoney, spokenDuration } from "../common/format.js";
import { byId, el, setText, show } from "./dom.js";
import { includedTax, loadCountries, shippingCents, termsText } from "./shipping.js";
import { StripeCheckout } from "./stripe_checkout.js";

const SAVED_DETAILS = "livedrop.checkout"; // name, email and address for next time (never the card)
const MAX_AUTO_RETRIES = 3;
const FIELD_NAMES = {
  name: "your name", email: "the email", card_number: "the card number", "shipping.line1": "the address",
  "shipping.line2": "the apartment or suite", "shipping.city": "the city", "shipping.postal_code": "the postal code",
  "shipping.country": "the country", "shipping.region": "the state or province", phone: "the phone number",
};
const REGION_NAMES = { US: "State", CA: "Province" };

export class Buying {
  constructor(viewer) {
    this.viewer = viewer;
    this.hold = null; // {hold_id, sku, quantity, price_cents, currency, expires_at, ...}
    this.paying = false;
    this.order = null;
    this._warnedMinute = false;
    this.stripe = StripeCheckout.fromPage(); // null: the test provider takes the card number here

    this.holdBar = byId("hold-bar");
    this.holdLabel = byId("hold-label");
    this.holdCountdown = byId("hold-countdown");
    this.dialog = byId("checkout");
    this.form = byId("checkout-form");
    this.item = byId("checkout-item");
    this.total = byId("checkout-total");
    this.checkoutCountdown = byId("checkout-countdown");
    this.error = byId("checkout-error");
    this.payButton = byId("checkout-pay");
    this.confirmation = byId("confirmation");
    // Shipping (docs/shipping.md): the show's terms, shown in the card and priced in the sheet.
    this.terms = null;
    this.countryNames = new Map([["US", "United States"]]);
    this.shippingLine = byId("shipping-line");
    this.shippingText = byId("checkout-shipping");
    this.country = byId("co-country");
    this.regionField = byId("co-region-field");
    this.region = byId("co-region");
    this.country.addEventListener("change", () => {
      this._renderRegions();
      this._renderMoney();
    });
    this.loadTerms();

    byId("hold-checkout").addEventListener("click", () => this.openCheckout());
    byId("hold-release").addEventListener("click", () => this.release());
    byId("checkout-close").addEventListener("click", () => this.dialog.close());
    byId("confirmation-close").addEventListener("click", () => this.dialog.close());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.pay();
    });
    this.dialog.addEventListener("close", () => {
      // Back where the buyer was: the hold's checkout button, else the buy button.
      const target = this.hold ? byId("hold-checkout") : byId("buy");
      if (!target.hidden) target.focus();
    });
  }

  /** The live hold if it is for this product (the card then offers checkout instead of buy). */
  holdFor(product) {
    if (!this.hold || !product) return null;
    if (this.hold.product_id !== undefined && this.hold.product_id !== null) {
      return this.hold.product_id === product.id ? this.hold : null;
    }
    return product.variants.some((v) => v.sku === this.hold.sku) ? this.hold : null;
  }

  // -- the buy press ---------------------------------------------------------------------------

  async buy(sku, key = newKey(), attempt = 0) {
    const { viewer } = this;
    const { card, state } = viewer;
    card.notice = null;
    card.setBusy(true);
    let hold;
    try {
      await viewer.ensureBuyer();
      const body = { sku, quantity: 1 };
      const pass = viewer.queue ? viewer.queue.passFor(sku) : null; // a waiting room's drop: the buyer's pass
      if (pass) body.pass = pass;
      hold = await api(`/api/shows/${encodeURIComponent(viewer.slug)}/holds`, {
        method: "POST",
        body,
        headers: { "Idempotency-Key": key },
      });
    } catch (err) {
      card.busy = false;
      this._buyRefused(err, sku, key, attempt);
      return;
    }
    card.busy = false;
    card.notice = null; // whatever frames said meanwhile, this press got its unit
    if (Number.isInteger(hold.remaining)) {
      const shown = state.available(sku);
      if (shown === null || hold.remaining < shown) state.stock[sku] = hold.remaining; // frames may be newer
    }
    const product = state.pinned;
    this.setHold({ ...hold, product_id: product && product.variants.some((v) => v.sku === sku) ? product.id : undefined });
    viewer.announce(`${state.label(sku)} reserved for ${spokenDuration(hold.expires_at - viewer.clock.now())}. Check out to buy it.`);
    this.openCheckout();
  }

  _buyRefused(err, sku, key, attempt) {
    const { viewer } = this;
    const { card, state } = viewer;
    const label = state.label(sku);
    const code = err instanceof ApiError ? err.code : "network";
    const again = (sameKey) => () => this.buy(sku, sameKey ? key : newKey());
    switch (code) {
      case "sold_out": {
        state.stock[sku] = 0;
        card.selected = null;
        const pinned = state.pinned;
        const allGone = pinned && pinned.variants.every((v) => state.available(v.sku) === 0);
        card.setNotice({ text: allGone
          ? "Sorry, it just sold out in every size. Stay tuned: the host may have another drop."
          : `Sorry, ${label} just sold out. Pick another size.` });
        break;
      }
      case "insufficient_stock": { // more asked for than is left (others are not told sold out)
        const left = err.body?.error?.units_left;
        card.setNotice({ text: Number.isInteger(left) && left > 0
          ? `Only ${left} of ${label} left: ask for ${left} or fewer.`
          : `Not that many of ${label} left. Try fewer.` });
        break;
      }
      case "limit_reached":
        this._limitReached();
        break;
      case "not_on_sale":
        card.setNotice({
          text: "This isn't on sale right now: the host may have moved on or the offer ended. The card updates by itself.",
          actionLabel: "Try again", action: again(false),
        });
        break;
      case "no_pass": // a waiting room's drop: the pass is missing, ran out, or is someone else's
      case "pass_expired":
      case "pass_not_yours":
        if (viewer.queue) viewer.queue.passRefused(err);
        else card.setNotice({ text: refusalText(err, "This drop has a waiting room. Reload the page to join the line.") });
        break;
      case "unknown_sku":
        card.selected = null;
        card.setNotice({ text: `${label} is not available any more. Pick another size.` });
        break;
      case "unavailable": // the shop is restarting a part or checking stock: same press, a moment later
      case "rate_limited": {
        const wait = Math.min(30, Math.max(1, Math.ceil(err.retryAfter ?? 2)));
        if (attempt < MAX_AUTO_RETRIES) {
          card.setNotice({ text: `Lots of people are pressing buy right now. Trying again in ${wait} s…` });
          card.setBusy(true);
          setTimeout(() => this.buy(sku, key, attempt + 1), wait * 1000);
        } else {
          card.setNotice({ text: "It's very busy right now. Wait a few seconds, then try again.", actionLabel: "Try again", action: again(true) });
        }
        break;
      }
      case "unauthorized":
        // The buyer cookie is no longer valid (e.g. the server's key changed): make a new buyer.
        viewer.buyer.id = null;
        if (attempt < 1) {
          this.buy(sku, key, attempt + 1);
          break;
        }
        card.setNotice({ text: "We couldn't set up your cart. Reload the page and try again.", actionLabel: "Reload", action: () => location.reload() });
        break;
      case "network":
        card.setNotice({ text: "We couldn't reach the shop. Check your connection, then try again.", actionLabel: "Try again", action: again(true) });
        break;
      default:
        card.setNotice({ text: "Something went wrong on our side. Please try again.", actionLabel: "Try again", action: again(true) });
    }
  }

  async _limitReached() {
    const { viewer } = this;
    const { card, state } = viewer;
    let me = null;
    try {
      me = await viewer.loadMe();
    } catch {
      /* the sentence below still helps */
    }
    if (me && this.restore(me)) {
      card.setNotice({ text: "You already have this reserved. Check out to make it yours.", actionLabel: "Check out", action: () => this.openCheckout() });
      return;
    }
    const skus = new Set((state.pinned?.variants || []).map((v) => v.sku));
    const order = (me?.orders || []).slice().reverse().find((o) => o.lines.some((line) => skus.has(line.sku)));
    card.setNotice(order
      ? { text: `You've already bought the most one person may buy of this product (order ${order.number}).`,
          actionLabel: "See your receipt", action: () => { location.href = order.receipt_url || `/orders/${order.order_id}`; } }
      : { text: "You've already reserved or bought as many of these as one person may. Look for an earlier order confirmation in your email." });
  }

  // -- the hold --------------------------------------------------------------------------------

  setHold(hold) {
    this.hold = hold;
    this._warnedMinute = hold ? hold.expires_at - this.viewer.clock.now() <= 60000 : false;
    this.render();
    this.viewer.card.render();
  }

  /** After a reload: the buyer's live hold (GET /api/buyers/me), preferring this show's products. */
  restore(me) {
    const now = this.viewer.clock.now();
    const live = (me.holds || []).filter((h) => (h.state === "held" || h.state === "locked") && h.expires_at > now);
    if (!live.length) return false;
    const ids = this.viewer.state.productIds();
    const hold = live.find((h) => ids.has(h.product_id)) || live[0];
    if (!this.hold || this.hold.hold_id !== hold.hold_id) this.setHold(hold);
    return true;
  }

  async release() {
    const hold = this.hold;
    if (!hold) return;
    try {
      await api(`/api/holds/${encodeURIComponent(hold.hold_id)}`, { method: "DELETE" });
    } catch (err) {
      if (err instanceof ApiError && err.code === "hold_locked") {
        this.viewer.card.setNotice({ text: "Your payment is being processed, so the reservation can't be let go right now." });
        return;
      }
      if (!(err instanceof ApiError) || (err.code !== "not_found" && err.code !== "hold_expired")) {
        this.viewer.card.setNotice({ text: "We couldn't reach the shop to let it go. Try again.", actionLabel: "Try again", action: () => this.release() });
        return;
      }
    }
    const label = this.viewer.state.label(hold.sku);
    this.setHold(null);
    this.viewer.card.setNotice({ text: `${label} is back on sale. You can pick a size again.` });
  }

  render() {
    const hold = this.hold;
    show(this.holdBar, Boolean(hold));
    if (!hold) return;
    const { state } = this.viewer;
    setText(this.holdLabel, `${state.label(hold.sku)}${hold.quantity > 1 ? ` × ${hold.quantity}` : ""} reserved for`);
    this.tick(this.viewer.clock.now());
  }

  tick(now) {
    const hold = this.hold;
    if (!hold) return;
    const left = hold.expires_at - now;
    const text = formatCountdown(left);
    setText(this.holdCountdown, text);
    setText(this.checkoutCountdown, text);
    const spoken = `Reserved for ${spokenDuration(left)}`;
    this.holdCountdown.setAttribute("aria-label", spoken);
    this.checkoutCountdown.setAttribute("aria-label", spoken);
    this.holdBar.classList.toggle("urgent", left <= 60000);
    if (left <= 60000 && !this._warnedMinute) {
      this._warnedMinute = true;
      this.viewer.announce("1 minute left on your reservation.");
    }
    if (left <= 0 && !this.paying) this._expired(hold);
  }

  _expired(hold) {
    const label = this.viewer.state.label(hold.sku);
    this.setHold(null);
    if (this.dialog.open) this.dialog.close();
    this.viewer.card.setNotice({
      text: `Your reservation ran out, so ${label} went back on sale.`,
      actionLabel: "Try again", action: () => this.buy(hold.sku),
    });
  }

  // The server took the payment, then found the size already sold (its stock store had come back
  // behind); the payment was refunded. Say so plainly: the buyer must not think they own it.
  _soldOutAfterAll(hold) {
    const label = this.viewer.state.label(hold.sku);
    this.setHold(null);
    if (this.dialog.open) this.dialog.close();
    this.viewer.card.setNotice({
      text: `We're sorry: ${label} sold out while your payment went through. Your payment has been refunded in full.`,
    });
  }

  // -- checkout --------------------------------------------------------------------------------

  openCheckout() {
    const hold = this.hold;
    if (!hold) return;
    const { state } = this.viewer;
    const title = state.pinned && this.holdFor(state.pinned) ? state.pinned.title : "Your item";
    setText(this.item, `${title}, ${state.label(hold.sku)}${hold.quantity > 1 ? ` × ${hold.quantity}` : ""}`);
    show(this.form, true);
    show(this.confirmation, false);
    this._showError("");
    this._fillSaved();
    this._renderRegions();
    this._renderMoney();
    this._prepareCountries();
    this.loadTerms().then(() => this._renderMoney());
    if (this.stripe) this.stripe.mount().catch(() => this._showError("We couldn't load the card form. Check your connection and open checkout again."));
    this.tick(this.viewer.clock.now());
    if (!this.dialog.open) this.dialog.showModal();
    const empty = [...this.form.querySelectorAll("input[required]")].find((input) => !input.value);
    (empty || byId("co-card")).focus();
  }

  _details() {
    const f = this.form.elements;
    const value = (name) => f.namedItem(name).value.trim();
    const shipping = { line1: value("line1"), city: value("city"), postal_code: value("postal_code"), country: value("country").toUpperCase() };
    if (value("line2")) shipping.line2 = value("line2");
    if (!this.regionField.hidden && this.region.value) shipping.region = this.region.value;
    if (this.stripe) return { name: value("name"), email: value("email"), shipping }; // the card goes to Stripe
    return { name: value("name"), email: value("email"), card_number: value("card_number").replace(/[\s-]/g, ""), shipping };
  }

  _validate() {
    let first = null;
    for (const input of this.form.querySelectorAll("input, select")) {
      const ok = input.checkValidity() && (!input.required || input.value.trim() !== "");
      input.setAttribute("aria-invalid", String(!ok));
      if (!ok && !first) first = input;
    }
    if (first) {
      const label = this.form.querySelector(`label[for="${first.id}"]`)?.textContent || "this field";
      this._showError(`Please check: ${label}.`);
      first.focus();
      return false;
    }
    const hold = this.hold;
    if (this.terms && hold && shippingCents(this.terms, hold.price_cents * hold.quantity, this.country.value) === null) {
      this._showError(`The seller doesn't ship to ${this._countryName(this.country.value)}. Choose another address.`);
      this.country.focus();
      return false;
    }
    return true;
  }

  async pay() {
    const hold = this.hold;
    if (!hold || this.paying) return;
    if (!this._validate()) return;
    const details = this._details();
    this._save(details);
    this.paying = true;
    this._showError("");
    const idle = this.payButton.textContent;
    setText(this.payButton, "Paying…");
    this.payButton.setAttribute("aria-busy", "true");
    this.payButton.disabled = true;
    let order = null;
    let failure = null;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      try {
        order = this.stripe
          ? await this.stripe.pay(hold.hold_id, details)
          : await api(`/api/holds/${encodeURIComponent(hold.hold_id)}/checkout`, { method: "POST", body: details });
        break;
      } catch (err) {
        failure = err;
        // Someone (this page, a moment ago) is mid-checkout on this hold: the same call again
        // returns that order once it is written.
        if (err instanceof ApiError && err.code === "hold_locked") {
          await sleep(1000);
          continue;
        }
        break;
      }
    }
    this.paying = false;
    this.payButton.disabled = false;
    this.payButton.setAttribute("aria-busy", "false");
    setText(this.payButton, idle);
    if (order) {
      this._confirmed(order);
      return;
    }
    this._payRefused(failure, hold);
  }

  _payRefused(err, hold) {
    const code = err instanceof ApiError ? err.code : "network";
    const label = this.viewer.state.label(hold.sku);
    switch (code) {
      case "payment_declined":
        this._showError(`Your card was declined. ${label} stays reserved: try another card.`);
        byId("co-card").select();
        byId("co-card").focus();
        break;
      case "hold_expired":
      case "not_found":
        this._expired(hold);
        break;
      case "sold_out_after_all":
        this._soldOutAfterAll(hold);
        break;
      case "unavailable":
        this._showError("The shop is catching its breath for a second. Your size stays reserved: press Pay again in a moment (you won't be charged twice).");
        break;
      case "not_shipped_to":
        this._showError(`The seller doesn't ship to ${this._countryName(this.country.value)}. ${label} stays reserved: choose another address.`);
        this.country.focus();
        this.loadTerms().then(() => this._renderMoney());
        break;
      case "limit_reached":
        this._showError("This email has already bought the most one person may buy of this product. Use the email of the person it's for, or let this reservation go.");
        byId("co-email").focus();
        break;
      case "invalid_request": {
        const field = Object.keys(FIELD_NAMES).find((name) => err.message.startsWith(`${name}:`));
        this._showError(field ? `Please check ${FIELD_NAMES[field]}.` : `Please check your details (${err.message}).`);
        break;
      }
      case "rate_limited":
        this._showError("It's very busy right now. Wait a few seconds, then press Pay again.");
        break;
      case "hold_locked":
        this._showError("Your payment is still being processed. Wait a moment, then press Pay again: you won't be charged twice.");
        break;
      case "network":
        this._showError("We couldn't reach the shop. Your size stays reserved: check your connection and press Pay again (you won't be charged twice).");
        break;
      default:
        this._showError("Something went wrong on our side. Press Pay again: you won't be charged twice.");
    }
  }

  _confirmed(order) {
    this.order = order;
    if (this.viewer.queue) this.viewer.queue.noteOrders([order]);
    this.setHold(null);
    const receipt = order.receipt_url || `/orders/${order.order_id}`;
    setText(byId("order-number"), order.number);
    const line = order.lines?.[0];
    setText(byId("order-summary"), `${line ? `${line.title}, ${line.label}. ` : ""}Total ${formatMoney(order.total_cents, order.currency)}. A confirmation goes to ${order.email}.`);
    byId("receipt-link").href = receipt;
    byId("co-card").value = "";
    show(this.form, false);
    show(this.confirmation, true);
    if (!this.dialog.open) this.dialog.showModal();
    this.confirmation.focus();
    this.viewer.announce(`Order ${order.number} confirmed.`);
    this.viewer.card.setNotice({
      text: `Order ${order.number} confirmed. Thank you!`, announce: false,
      actionLabel: "View receipt", action: () => { location.href = receipt; },
    });
  }

  _showError(text) {
    show(this.error, Boolean(text));
    setText(this.error, text);
  }

  _save(details) {
    try {
      localStorage.setItem(SAVED_DETAILS, JSON.stringify({ name: details.name, email: details.email, shipping: details.shipping }));
    } catch {
      /* private mode: nothing saved */
    }
  }

  _fillSaved() {
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(SAVED_DETAILS) || "null");
    } catch {
      saved = null;
    }
    if (!saved || typeof saved !== "object") return;
    const f = this.form.elements;
    const fill = (name, value) => {
      const input = f.namedItem(name);
      if (input && !input.value && typeof value === "string") input.value = value;
    };
    fill("name", saved.name);
    fill("email", saved.email);
    for (const key of ["line1", "line2", "city", "postal_code"]) fill(key, saved.shipping?.[key]);
    this._savedPlace = saved.shipping || null;
    this._applySavedPlace();
  }

  // -- shipping --------------------------------------------------------------------------------

  /** The show's shipping terms; the card's line shows them. A failure keeps the last ones. */
  async loadTerms() {
    try {
      this.terms = await api(`/api/shows/${encodeURIComponent(this.viewer.slug)}/shipping`);
    } catch {
      return; // the server still prices the order; the sheet says so when it has no terms
    }
    const currency = this.hold?.currency || this.viewer.state?.pinned?.currency || "USD";
    const text = termsText(this.terms, currency);
    setText(this.shippingLine, text);
    show(this.shippingLine, Boolean(text));
  }

  /** The country list, once: every ISO 3166-1 country by name (the page has United States only). */
  async _prepareCountries() {
    if (this._countriesReady) return;
    let list;
    try {
      list = await loadCountries();
    } catch {
      return; // United States stays the only choice; opening the sheet again tries again
    }
    this._countriesReady = true;
    this.regions = list.regions;
    const chosen = this.country.value;
    this.country.replaceChildren(...list.countries.map((c) => el("option", { value: c.code, textContent: c.name })));
    for (const c of list.countries) this.countryNames.set(c.code, c.name);
    this.country.value = chosen || "US";
    this._applySavedPlace();
    this._renderRegions();
    this._renderMoney();
  }

  _applySavedPlace() {
    const saved = this._savedPlace;
    if (!saved || typeof saved.country !== "string") return;
    if ([...this.country.options].some((o) => o.value === saved.country)) this.country.value = saved.country;
    this._renderRegions();
    if (typeof saved.region === "string" && [...this.region.options].some((o) => o.value === saved.region)) this.region.value = saved.region;
  }

  /** US and CA addresses need a state or province, from the list; other countries none. */
  _renderRegions() {
    const country = this.country.value;
    const regions = this.regions?.[country] || (country === "US" || country === "CA" ? [] : null);
    const needed = regions !== null;
    show(this.regionField, needed);
    this.region.required = needed;
    if (!needed || this.region.dataset.country === country) return;
    const previous = this.region.value;
    setText(byId("co-region-label"), REGION_NAMES[country] || "Region");
    this.region.replaceChildren(el("option", { value: "", textContent: "Choose…" }),
      ...regions.map((r) => el("option", { value: r.code, textContent: r.name })));
    this.region.dataset.country = regions.length ? country : "";
    if ([...this.region.options].some((o) => o.value === previous)) this.region.value = previous;
  }

  _countryName(code) {
    return this.countryNames.get(code) || code;
  }

  /** The sheet's money for the chosen country: shipping, the total to pay, the tax inside it. */
  _renderMoney() {
    const hold = this.hold;
    if (!hold) return;
    const money = (cents) => formatMoney(cents, hold.currency);
    const subtotal = hold.price_cents * hold.quantity;
    const country = this.country.value;
    const shipping = this.terms ? shippingCents(this.terms, subtotal, country) : 0;
    this.shippingText.classList.toggle("refused", shipping === null);
    if (shipping === null) {
      setText(this.shippingText, `The seller doesn't ship to ${this._countryName(country)}. Choose another country.`);
      setText(this.total, money(subtotal));
      setText(this.payButton, `Pay ${money(subtotal)}`);
      return;
    }
    const total = subtotal + shipping;
    const rate = this.terms?.tax_rate_bp || 0;
    const tax = rate ? ` (incl. ${this.terms.tax_label} ${money(includedTax(total, rate))})` : "";
    setText(this.shippingText, this.terms
      ? `Shipping to ${this._countryName(country)}: ${shipping ? money(shipping) : "free"} · Total ${money(total)}${tax}`
      : "");
    setText(this.total, money(total));
    if (!this.paying) setText(this.payButton, `Pay ${money(total)}`);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
