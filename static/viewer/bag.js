// The show's bag (docs/bag.md): a bag button with a count in the top bar opens a sheet listing every
// product of the show's bag, the pinned one first. Each product can be held (a hold of its own, with
// its own timer); the held items are paid in one checkout (POST /api/shows/{slug}/bag/checkout: one
// order, one payment, a line per hold; under Stripe one PaymentIntent for the bag, confirmed with
// Stripe.js as a one-hold checkout is: stripe_checkout.js). After a reload the buyer's live holds of
// this show come back into the sheet with their timers (restore). Server text goes in as text only
// (dom.js's el).

import { api, ApiError, newKey, refusalText } from "../common/api.js";
import { CARD_INPUT, cardDigits } from "../common/card_number.js";
import { formatCountdown, formatMoney } from "../common/format.js";
import { byId, el, setText, show } from "./dom.js";
import { t } from "../common/i18n.js";
import { StripeCheckout } from "./stripe_checkout.js";

// Every user-facing string of this module, in one place, in the page's language (t(), static/i18n/*.json).
export const TEXT = {
  get button() { return t("bag.button"); },
  buttonLabel: (n) => t("bag.button_label", { n }),
  get title() { return t("bag.title"); },
  get close() { return t("bag.close"); },
  get pinned() { return t("bag.pinned"); },
  get add() { return t("bag.add"); },
  get size() { return t("bag.size"); },
  get soldOut() { return t("bag.sold_out"); },
  get held() { return t("bag.held"); },
  get expired() { return t("bag.expired"); },
  get remove() { return t("bag.remove"); },
  yourItems: (n) => t("bag.your_items", { n }),
  checkout: (n) => t("bag.checkout", { n }),
  get pay() { return t("bag.pay"); },
  paid: (number) => t("bag.paid", { number }),
  get receipt() { return t("bag.receipt"); },
  get empty() { return t("bag.empty"); },
  get failed() { return t("bag.failed"); },
  get fields() {
    return {
      name: t("bag.field.name"), email: t("bag.field.email"), line1: t("bag.field.line1"), city: t("bag.field.city"),
      postal: t("bag.field.postal"), country: t("bag.field.country"), card: t("bag.field.card"), region: t("bag.field.region"),
    };
  },
};

export class Bag {
  constructor(viewer) {
    this.viewer = viewer;
    this.holds = new Map(); // hold id -> the hold (its own expires_at)
    // Stripe: the card is typed into Stripe.js's element, in place of the form's card field; null
    // with the test provider, which takes the card number.
    this.stripe = StripeCheckout.fromPage({ cardInput: "bag-card", holder: "bag-stripe-card", fieldClass: "bag-field" });
    this.button = el("button", { type: "button", className: "bag-button", id: "bag-button" },
      el("span", { className: "bag-label" }, TEXT.button), " ", el("span", { className: "bag-count", id: "bag-count" }, "0"));
    this.button.addEventListener("click", () => this.open());
    byId("viewer-count").before(this.button);

    this.list = el("ul", { className: "bag-list", id: "bag-list" });
    this.heldList = el("ul", { className: "bag-held", id: "bag-held" });
    this.heldTitle = el("h3", { className: "bag-held-title" });
    this.error = el("p", { className: "bag-error", id: "bag-error", role: "alert", hidden: true });
    this.done = el("p", { className: "bag-done", id: "bag-done", role: "status", hidden: true });
    this.checkoutButton = el("button", { type: "button", className: "button bag-checkout", id: "bag-checkout", hidden: true });
    this.checkoutButton.addEventListener("click", () => this.openForm());
    this.form = this._form();
    const closer = el("button", { type: "button", className: "button button-quiet button-small bag-close", id: "bag-close" }, TEXT.close);
    closer.addEventListener("click", () => this.sheet.close());
    this.sheet = el("dialog", { className: "bag-sheet", id: "bag-sheet", "aria-labelledby": "bag-title" },
      el("div", { className: "bag-head" }, el("h2", { id: "bag-title" }, TEXT.title), closer),
      this.list, this.heldTitle, this.heldList, this.error, this.checkoutButton, this.form, this.done);
    document.body.append(this.sheet);
  }

  _form() {
    const field = (id, label, props = {}) => el("label", { className: "bag-field" }, label,
      el("input", { id: `bag-${id}`, required: true, ...props }));
    const form = el("form", { className: "bag-form", id: "bag-form", hidden: true },
      field("name", TEXT.fields.name, { autocomplete: "name", maxLength: 200 }),
      field("email", TEXT.fields.email, { type: "email", autocomplete: "email", maxLength: 320 }),
      field("line1", TEXT.fields.line1, { autocomplete: "address-line1", maxLength: 200 }),
      field("city", TEXT.fields.city, { autocomplete: "address-level2", maxLength: 100 }),
      field("postal", TEXT.fields.postal, { autocomplete: "postal-code", maxLength: 20 }),
      field("country", TEXT.fields.country, { autocomplete: "country", maxLength: 2, value: "US" }),
      field("region", TEXT.fields.region, { autocomplete: "address-level1", maxLength: 100, required: false }),
      field("card", TEXT.fields.card, { ...CARD_INPUT }),
      el("button", { type: "submit", className: "button bag-pay", id: "bag-pay" }, TEXT.pay));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.pay();
    });
    return form;
  }

  render() {
    const { bag } = this.viewer.state;
    setText(byId("bag-count"), String(bag.length));
    this.button.setAttribute("aria-label", TEXT.buttonLabel(bag.length));
    show(this.button, bag.length > 0);
    if (this.sheet.open) this.renderSheet();
  }

  open() {
    this.renderSheet();
    if (!this.sheet.open) this.sheet.showModal();
  }

  renderSheet() {
    const { state } = this.viewer;
    this.list.replaceChildren();
    if (!state.bag.length) this.list.append(el("li", { className: "bag-empty" }, TEXT.empty));
    for (const product of state.bag) this.list.append(this._item(product));
    this.renderHeld();
  }

  _item(product) {
    const { state } = this.viewer;
    const isPinned = state.pinned && state.pinned.id === product.id;
    const variants = product.variants || [];
    const select = el("select", { className: "bag-size", "aria-label": `${TEXT.size}: ${product.title}` });
    for (const v of variants) {
      const left = state.available(v.sku);
      select.append(el("option", { value: v.sku, disabled: left === 0 }, left === 0 ? `${v.label} · ${TEXT.soldOut}` : v.label));
    }
    const add = el("button", { type: "button", className: "button button-small bag-add", dataset: { productId: product.id } }, TEXT.add);
    add.addEventListener("click", () => this.hold(select.value, add));
    return el("li", { className: "bag-item", dataset: { productId: product.id } },
      product.image_url ? el("img", { className: "bag-image", src: product.image_url, alt: "" }) : null,
      el("div", { className: "bag-info" },
        el("span", { className: "bag-title" }, product.title),
        isPinned ? el("span", { className: "bag-pinned" }, TEXT.pinned) : null,
        el("span", { className: "bag-price" }, formatMoney(product.price_cents, product.currency))),
      variants.length > 1 ? select : null, add);
  }

  renderHeld() {
    const now = this.viewer.clock.now();
    const live = [...this.holds.values()].filter((h) => h.expires_at > now);
    setText(this.heldTitle, TEXT.yourItems(live.length));
    show(this.heldTitle, live.length > 0);
    this.heldList.replaceChildren();
    for (const h of this.holds.values()) {
      const left = h.expires_at - now;
      const remove = el("button", { type: "button", className: "button button-small button-quiet" }, TEXT.remove);
      remove.addEventListener("click", () => this.release(h));
      this.heldList.append(el("li", { className: "bag-hold", dataset: { holdId: h.hold_id } },
        el("span", { className: "bag-hold-title" }, `${h.title || h.sku} · ${h.label || h.sku}`),
        el("span", { className: "bag-timer" }, left > 0 ? formatCountdown(left) : TEXT.expired),
        left > 0 ? remove : null));
    }
    setText(this.checkoutButton, TEXT.checkout(live.length));
    show(this.checkoutButton, live.length > 0 && this.form.hidden);
  }

  /** Each held item's timer, every tick. */
  tick() {
    if (!this.sheet.open) return;
    const now = this.viewer.clock.now();
    for (const li of this.heldList.children) {
      const h = this.holds.get(li.dataset.holdId);
      if (h) setText(li.querySelector(".bag-timer"), h.expires_at > now ? formatCountdown(h.expires_at - now) : TEXT.expired);
    }
  }

  async hold(sku, button) {
    this._error("");
    button.disabled = true;
    try {
      await this.viewer.ensureBuyer();
      const made = await api(`/api/shows/${this.viewer.slug}/holds`, {
        method: "POST", body: { sku, quantity: 1 }, headers: { "Idempotency-Key": newKey() } });
      const product = this.viewer.state.bag.find((p) => (p.variants || []).some((v) => v.sku === sku));
      const variant = product ? product.variants.find((v) => v.sku === sku) : null;
      this.holds.set(made.hold_id, { ...made, title: product ? product.title : sku, label: variant ? variant.label : sku });
      this.renderHeld();
    } catch (err) {
      this._error(refusalText(err, TEXT.failed));
    } finally {
      button.disabled = false;
    }
  }

  /**
   * After a reload: the buyer's live holds (GET /api/buyers/me, each with its title, size and
   * expiry) of this show's products come back into the sheet with their own timers.
   */
  restore(me) {
    const { state } = this.viewer;
    const now = this.viewer.clock.now();
    const products = state.productIds();
    for (const p of state.bag) products.add(p.id);
    for (const h of me.holds || []) {
      if ((h.state === "held" || h.state === "locked") && h.expires_at > now && products.has(h.product_id) && !this.holds.has(h.hold_id)) {
        this.holds.set(h.hold_id, { ...h, title: h.title || h.sku, label: h.label || h.sku });
      }
    }
    this.renderHeld();
  }

  /** Holds paid or let go elsewhere on the page (the hold bar's own checkout): no longer in the bag. */
  forget(holdIds) {
    let changed = false;
    for (const id of holdIds) changed = this.holds.delete(id) || changed;
    if (changed) this.renderHeld();
  }

  async release(h) {
    try {
      await api(`/api/holds/${h.hold_id}`, { method: "DELETE" });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        this._error(refusalText(err, TEXT.failed));
        return;
      }
    }
    this.holds.delete(h.hold_id);
    this._alsoInHoldBar([h.hold_id]);
    this.renderHeld();
  }

  /** The hold bar may show one of the bag's holds (restored after a reload): it goes with them. */
  _alsoInHoldBar(holdIds) {
    const { buying } = this.viewer;
    if (buying?.hold && holdIds.includes(buying.hold.hold_id)) buying.setHold(null);
  }

  /** Every live hold costs nothing (giveaway wins): the bag is paid as one free hold is, no card
   * (inventory/bag_checkout.py: no provider is asked). */
  _free() {
    const now = this.viewer.clock.now();
    const live = [...this.holds.values()].filter((h) => h.expires_at > now);
    return live.length > 0 && live.every((h) => h.price_cents * h.quantity === 0);
  }

  openForm() {
    show(this.form, true);
    show(this.checkoutButton, false);
    const free = this._free();
    const card = byId("bag-card");
    show(card.closest(".bag-field"), !free && !this.stripe);
    card.required = !free && !this.stripe;
    const stripeField = document.getElementById("bag-stripe-card"); // there once Stripe.js mounted its field
    if (stripeField) show(stripeField, !free);
    if (this.stripe && !free) this.stripe.mount().catch(() => this._error(t("checkout.card_form_failed")));
    byId("bag-name").focus();
  }

  async pay() {
    this._error("");
    const now = this.viewer.clock.now();
    const ids = [...this.holds.values()].filter((h) => h.expires_at > now).map((h) => h.hold_id);
    const value = (id) => byId(`bag-${id}`).value.trim();
    const shipping = { line1: value("line1"), city: value("city"), postal_code: value("postal"), country: value("country").toUpperCase() };
    if (value("region")) shipping.region = value("region");
    const payButton = byId("bag-pay");
    payButton.disabled = true;
    const details = { name: value("name"), email: value("email"), shipping };
    const free = this._free();
    try {
      const order = free
        ? await api(`/api/shows/${this.viewer.slug}/bag/checkout`, { method: "POST", body: { ...details, hold_ids: ids } })
        : this.stripe
        ? await this.stripe.payBag(this.viewer.slug, ids, details) // the card goes to Stripe, never here
        : await api(`/api/shows/${this.viewer.slug}/bag/checkout`, { method: "POST", body: {
          ...details, hold_ids: ids, card_number: cardDigits(value("card")) } });
      this.holds.clear();
      this._alsoInHoldBar(ids);
      show(this.form, false);
      this.done.replaceChildren(TEXT.paid(order.number), " ",
        el("a", { href: order.receipt_url || `/orders/${order.order_id}`, id: "bag-receipt" }, TEXT.receipt));
      show(this.done, true);
      this.renderHeld();
    } catch (err) {
      this._error(refusalText(err, TEXT.failed));
    } finally {
      payButton.disabled = false;
    }
  }

  _error(text) {
    setText(this.error, text);
    show(this.error, Boolean(text));
  }
}
