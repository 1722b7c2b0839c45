// Buying: a buy press makes a hold (one Idempotency-Key per press, reused only when that same
// press is retried), the hold counts down visibly, the checkout sheet pays for it, and the
// confirmation links the receipt. Every refusal becomes a plain sentence with a next step.

import { api, ApiError, newKey, refusalText } from "../common/api.js";
import { cardDigits } from "../common/card_number.js";
import { formatCountdown, formatMoney, spokenDuration } from "../common/format.js";
import { byId, el, setText, show } from "./dom.js";
import { LOCALE, t } from "../common/i18n.js";
import { includedTax, loadCountries, shippingCents, termsText } from "./shipping.js";
import { StripeCheckout } from "./stripe_checkout.js";

const SAVED_DETAILS = "livedrop.checkout"; // name, email and address for next time (never the card)
const MAX_AUTO_RETRIES = 3;
const FIELD_NAMES = {
  name: () => t("checkout.field.name"), email: () => t("checkout.field.email"), card_number: () => t("checkout.field.card_number"),
  "shipping.line1": () => t("checkout.field.line1"), "shipping.line2": () => t("checkout.field.line2"),
  "shipping.city": () => t("checkout.field.city"), "shipping.postal_code": () => t("checkout.field.postal_code"),
  "shipping.country": () => t("checkout.field.country"), "shipping.region": () => t("checkout.field.region"),
  phone: () => t("checkout.field.phone"),
};
const REGION_NAMES = { US: () => t("checkout.region.US"), CA: () => t("checkout.region.CA") };
// Country names in the page's language (the server's list is English); a code Intl does not know keeps the server's name.
const regionNames = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames([LOCALE], { type: "region" }) : null;
const countryName = (code, fallback) => {
  try {
    return regionNames?.of(code) || fallback;
  } catch {
    return fallback;
  }
};

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
    this.countryNames = new Map([["US", countryName("US", "United States")]]);
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
    viewer.announce(t("buy.reserved_spoken", { size: state.label(sku), duration: spokenDuration(hold.expires_at - viewer.clock.now()) }));
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
          ? t("buy.sold_out_everywhere")
          : t("buy.size_just_sold_out", { size: label }) });
        break;
      }
      case "insufficient_stock": { // more asked for than is left (others are not told sold out)
        const left = err.body?.error?.units_left;
        card.setNotice({ text: Number.isInteger(left) && left > 0
          ? t("buy.only_left", { n: left, size: label })
          : t("buy.not_that_many", { size: label }) });
        break;
      }
      case "limit_reached":
        this._limitReached();
        break;
      case "not_on_sale":
        card.setNotice({
          text: t("buy.not_on_sale"),
          actionLabel: t("buy.try_again"), action: again(false),
        });
        break;
      case "no_pass": // a waiting room's drop: the pass is missing, ran out, or is someone else's
      case "pass_expired":
      case "pass_not_yours":
        if (viewer.queue) viewer.queue.passRefused(err);
        else card.setNotice({ text: refusalText(err, t("buy.waiting_room_reload")) });
        break;
      case "unknown_sku":
        card.selected = null;
        card.setNotice({ text: t("buy.size_gone", { size: label }) });
        break;
      case "unavailable": // the shop is restarting a part or checking stock: same press, a moment later
      case "rate_limited": {
        const wait = Math.min(30, Math.max(1, Math.ceil(err.retryAfter ?? 2)));
        if (attempt < MAX_AUTO_RETRIES) {
          card.setNotice({ text: t("buy.busy_retrying", { s: wait }) });
          card.setBusy(true);
          setTimeout(() => this.buy(sku, key, attempt + 1), wait * 1000);
        } else {
          card.setNotice({ text: t("buy.very_busy"), actionLabel: t("buy.try_again"), action: again(true) });
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
        card.setNotice({ text: t("buy.no_cart"), actionLabel: t("buy.reload"), action: () => location.reload() });
        break;
      case "network":
        card.setNotice({ text: t("buy.offline"), actionLabel: t("buy.try_again"), action: again(true) });
        break;
      default:
        card.setNotice({ text: t("buy.our_fault"), actionLabel: t("buy.try_again"), action: again(true) });
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
      card.setNotice({ text: t("buy.already_reserved"), actionLabel: t("buy.check_out"), action: () => this.openCheckout() });
      return;
    }
    const skus = new Set((state.pinned?.variants || []).map((v) => v.sku));
    const order = (me?.orders || []).slice().reverse().find((o) => o.lines.some((line) => skus.has(line.sku)));
    card.setNotice(order
      ? { text: t("buy.limit_order", { number: order.number }),
          actionLabel: t("buy.see_receipt"), action: () => { location.href = order.receipt_url || `/orders/${order.order_id}`; } }
      : { text: t("buy.limit") });
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
        this.viewer.card.setNotice({ text: t("hold.payment_processing") });
        return;
      }
      if (!(err instanceof ApiError) || (err.code !== "not_found" && err.code !== "hold_expired")) {
        this.viewer.card.setNotice({ text: t("hold.release_failed"), actionLabel: t("buy.try_again"), action: () => this.release() });
        return;
      }
    }
    const label = this.viewer.state.label(hold.sku);
    this.setHold(null);
    this.viewer.card.setNotice({ text: t("hold.released", { size: label }) });
  }

  render() {
    const hold = this.hold;
    show(this.holdBar, Boolean(hold));
    if (!hold) return;
    const { state } = this.viewer;
    const item = hold.quantity > 1 ? t("hold.item_quantity", { size: state.label(hold.sku), n: hold.quantity }) : state.label(hold.sku);
    setText(this.holdLabel, t("hold.label", { item }));
    this.tick(this.viewer.clock.now());
  }

  tick(now) {
    const hold = this.hold;
    if (!hold) return;
    const left = hold.expires_at - now;
    const text = formatCountdown(left);
    setText(this.holdCountdown, text);
    setText(this.checkoutCountdown, text);
    const spoken = t("hold.reserved_for", { duration: spokenDuration(left) });
    this.holdCountdown.setAttribute("aria-label", spoken);
    this.checkoutCountdown.setAttribute("aria-label", spoken);
    this.holdBar.classList.toggle("urgent", left <= 60000);
    if (left <= 60000 && !this._warnedMinute) {
      this._warnedMinute = true;
      this.viewer.announce(t("hold.last_minute"));
    }
    if (left <= 0 && !this.paying) this._expired(hold);
  }

  _expired(hold) {
    const label = this.viewer.state.label(hold.sku);
    this.setHold(null);
    if (this.dialog.open) this.dialog.close();
    this.viewer.card.setNotice({
      text: t("hold.expired", { size: label }),
      actionLabel: t("buy.try_again"), action: () => this.buy(hold.sku),
    });
  }

  // The server took the payment, then found the size already sold (its stock store had come back
  // behind); the payment was refunded. Say so plainly: the buyer must not think they own it.
  _soldOutAfterAll(hold) {
    const label = this.viewer.state.label(hold.sku);
    this.setHold(null);
    if (this.dialog.open) this.dialog.close();
    this.viewer.card.setNotice({
      text: t("hold.sold_out_after_all", { size: label }),
    });
  }

  // -- checkout --------------------------------------------------------------------------------

  /** A hold that costs nothing (a giveaway's win): the sheet collects the address only, no card. */
  _free(hold = this.hold) {
    return Boolean(hold) && hold.price_cents * hold.quantity === 0;
  }

  /** A draw win whose entry authorized the money (viewer/draw.js): the claim captures that
   * authorization, so no card is asked; unless its total outgrew the authorization (the server
   * said so: _cardAnyway), when it pays by card like any hold. */
  _covered(hold = this.hold) {
    return Boolean(hold) && !this._free(hold) && this._cardAnyway !== hold.hold_id
      && Boolean(this.viewer.draws?.covers(hold.hold_id));
  }

  /** The card field (or Stripe's) for a hold that is paid; hidden for one that is free or whose
   * draw entry authorized it. */
  _renderCard() {
    const free = this._free();
    const covered = this._covered();
    const input = byId("co-card");
    const field = input.closest(".field");
    if (!this.claimNote) {
      this.claimNote = el("p", { className: "sheet-claim-note", id: "checkout-claim-note", hidden: true });
      field.before(this.claimNote);
    }
    show(this.claimNote, covered);
    if (covered) setText(this.claimNote, t("draw_card.claim_note"));
    if (free || covered) {
      input.required = false;
      show(field, false);
      const stripeField = document.getElementById("stripe-card"); // there once Stripe.js mounted its field
      if (stripeField) show(stripeField, false);
      return;
    }
    if (this.stripe) {
      const stripeField = document.getElementById("stripe-card"); // there once Stripe.js mounted its field
      if (stripeField) show(stripeField, true);
      this.stripe.mount().catch(() => this._showError(t("checkout.card_form_failed")));
      return;
    }
    input.required = true;
    show(field, true);
  }

  openCheckout() {
    const hold = this.hold;
    if (!hold) return;
    const { state } = this.viewer;
    const title = state.pinned && this.holdFor(state.pinned) ? state.pinned.title : t("checkout.your_item");
    const size = hold.quantity > 1 ? t("hold.item_quantity", { size: state.label(hold.sku), n: hold.quantity }) : state.label(hold.sku);
    setText(this.item, t("checkout.item", { title, size }));
    show(this.form, true);
    show(this.confirmation, false);
    this._showError("");
    // A card number belongs to one checkout: a declined one must not wait in the field for the next.
    if (this._cardFor !== hold.hold_id) {
      byId("co-card").value = "";
      byId("co-card").removeAttribute("aria-invalid");
      this._cardFor = hold.hold_id;
    }
    this._fillSaved();
    this._renderRegions();
    this._renderMoney();
    this._prepareCountries();
    this.loadTerms().then(() => this._renderMoney());
    this._renderCard();
    this.tick(this.viewer.clock.now());
    if (!this.dialog.open) this.dialog.showModal();
    const empty = [...this.form.querySelectorAll("input[required]")].find((input) => !input.value);
    (empty || (this._free() || this._covered() ? this.payButton : byId("co-card"))).focus();
  }

  _details() {
    const f = this.form.elements;
    const value = (name) => f.namedItem(name).value.trim();
    const shipping = { line1: value("line1"), city: value("city"), postal_code: value("postal_code"), country: value("country").toUpperCase() };
    if (value("line2")) shipping.line2 = value("line2");
    if (!this.regionField.hidden && this.region.value) shipping.region = this.region.value;
    // The card goes to Stripe; a free hold needs none, nor a draw win its entry authorized.
    if (this.stripe || this._free() || this._covered()) return { name: value("name"), email: value("email"), shipping };
    return { name: value("name"), email: value("email"), card_number: cardDigits(value("card_number")), shipping };
  }

  _validate() {
    let first = null;
    for (const input of this.form.querySelectorAll("input, select")) {
      const ok = input.checkValidity() && (!input.required || input.value.trim() !== "");
      input.setAttribute("aria-invalid", String(!ok));
      if (!ok && !first) first = input;
    }
    if (first) {
      const label = this.form.querySelector(`label[for="${first.id}"]`)?.textContent || t("checkout.field.this");
      this._showError(t("checkout.please_check", { field: label }));
      first.focus();
      return false;
    }
    const hold = this.hold;
    if (this.terms && hold && shippingCents(this.terms, hold.price_cents * hold.quantity, this.country.value) === null) {
      this._showError(t("checkout.not_shipped_to", { country: this._countryName(this.country.value) }));
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
    setText(this.payButton, t("checkout.paying"));
    this.payButton.setAttribute("aria-busy", "true");
    this.payButton.disabled = true;
    let order = null;
    let failure = null;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      try {
        // A covered claim is one call with either provider: the server captures the authorization.
        order = this.stripe && !this._free(hold) && !this._covered(hold)
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
    const outgrew = code === "payment_incomplete" || (code === "invalid_request" && /^card_number\b/.test(err.message || ""));
    if (this._covered(hold) && outgrew) {
      // The total (shipping) is more than the entry authorized: nothing was captured; pay by card.
      this._cardAnyway = hold.hold_id;
      this._renderCard();
      this._showError(t("draw_card.claim_over"));
      if (!this.stripe) byId("co-card").focus();
      return;
    }
    switch (code) {
      case "payment_declined":
        this._showError(t("checkout.declined", { size: label }));
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
        this._showError(t("checkout.unavailable"));
        break;
      case "not_shipped_to":
        this._showError(t("checkout.not_shipped_to_reserved", { country: this._countryName(this.country.value), size: label }));
        this.country.focus();
        this.loadTerms().then(() => this._renderMoney());
        break;
      case "limit_reached":
        this._showError(t("checkout.limit"));
        byId("co-email").focus();
        break;
      case "invalid_request": {
        const field = Object.keys(FIELD_NAMES).find((name) => err.message.startsWith(`${name}:`));
        this._showError(field ? t("checkout.please_check", { field: FIELD_NAMES[field]() }) : t("checkout.check_details", { message: err.message }));
        break;
      }
      case "rate_limited":
        this._showError(t("checkout.very_busy"));
        break;
      case "hold_locked":
        this._showError(t("checkout.still_processing"));
        break;
      case "network":
        this._showError(t("checkout.offline"));
        break;
      default:
        this._showError(t("checkout.our_fault"));
    }
  }

  _confirmed(order) {
    this.order = order;
    if (this.viewer.queue) this.viewer.queue.noteOrders([order]);
    if (this.hold) this.viewer.bag?.forget([this.hold.hold_id]); // restored into the bag too after a reload
    this.setHold(null);
    const receipt = order.receipt_url || `/orders/${order.order_id}`;
    setText(byId("order-number"), order.number);
    const line = order.lines?.[0];
    const total = formatMoney(order.total_cents, order.currency);
    setText(byId("order-summary"), line
      ? t("checkout.summary_line", { title: line.title, size: line.label, total, email: order.email })
      : t("checkout.summary", { total, email: order.email }));
    byId("receipt-link").href = receipt;
    byId("co-card").value = "";
    show(this.form, false);
    show(this.confirmation, true);
    if (!this.dialog.open) this.dialog.showModal();
    this.confirmation.focus();
    this.viewer.announce(t("checkout.order_confirmed_spoken", { number: order.number }));
    this.viewer.card.setNotice({
      text: t("checkout.order_confirmed_thanks", { number: order.number }), announce: false,
      actionLabel: t("checkout.view_receipt"), action: () => { location.href = receipt; },
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
    const countries = list.countries.map((c) => ({ code: c.code, name: countryName(c.code, c.name) }))
      .sort((a, b) => a.name.localeCompare(b.name, LOCALE));
    this.country.replaceChildren(...countries.map((c) => el("option", { value: c.code, textContent: c.name })));
    for (const c of countries) this.countryNames.set(c.code, c.name);
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
    setText(byId("co-region-label"), REGION_NAMES[country] ? REGION_NAMES[country]() : t("checkout.region.other"));
    this.region.replaceChildren(el("option", { value: "", textContent: t("checkout.choose") }),
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
    if (this._free(hold) && shipping !== null) {
      // A giveaway ships free whatever the host's rules (inventory/checkout.py quote_for).
      this.shippingText.classList.remove("refused");
      setText(this.shippingText, t("checkout.free_note"));
      setText(this.total, money(0));
      if (!this.paying) setText(this.payButton, t("checkout.claim_free"));
      return;
    }
    this.shippingText.classList.toggle("refused", shipping === null);
    if (shipping === null) {
      setText(this.shippingText, t("checkout.not_shipped_country", { country: this._countryName(country) }));
      setText(this.total, money(subtotal));
      setText(this.payButton, t("checkout.pay_amount", { amount: money(subtotal) }));
      return;
    }
    const total = subtotal + shipping;
    const rate = this.terms?.tax_rate_bp || 0;
    const tax = rate ? t("checkout.tax_included", { tax: this.terms.tax_label, amount: money(includedTax(total, rate)) }) : "";
    setText(this.shippingText, this.terms
      ? t("checkout.shipping_to", { country: this._countryName(country), shipping: shipping ? money(shipping) : t("checkout.free"), total: money(total), tax })
      : "");
    setText(this.total, money(total));
    if (!this.paying) setText(this.payButton, t("checkout.pay_amount", { amount: money(total) }));
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
