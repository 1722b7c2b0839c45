// Draws and giveaways on the viewer page (docs/draws.md): while entries are open, a countdown and
// a form (size, email); then the result, the same on every screen (the `draw` frame), and this
// buyer's own outcome from GET .../entries/me. A winner's hold is an ordinary hold of this buyer,
// so claiming it is the usual checkout (viewer/buying.js, restored from /api/buyers/me).
//
// A draw that authorizes at entry (offer.authorize) asks for the card in its form: a card number
// with the test provider, Stripe.js's card element under Stripe (the number never reaches
// livedrop: the entry sends the payment method Stripe.js made). The form says the amount first
// (the price and the shipping the server will authorize: live/draws.py) and that it is only
// charged on a win; a winner's claim then captures it, so the checkout sheet asks no card again
// (covers() below, read by viewer/buying.js).

import { api, ApiError } from "../common/api.js";
import { CARD_INPUT, cardDigits } from "../common/card_number.js";
import { formatClockTime, formatCountdown, formatMoney } from "../common/format.js";
import { byId, el, setText, show } from "./dom.js";
import { t } from "../common/i18n.js";
import { entryShippingCents } from "./shipping.js";
import { StripeCheckout } from "./stripe_checkout.js";

const TEXT = {
  get drawTitle() { return t("draw.title"); },
  get giveawayTitle() { return t("draw.giveaway_title"); },
  closesIn: (ms) => t("draw.closes_in", { time: formatCountdown(ms) }),
  opensIn: (ms) => t("draw.opens_in", { time: formatCountdown(ms) }),
  get drawing() { return t("draw.drawing"); },
  get explain() { return t("draw.explain"); },
  get watchNote() { return t("draw.watch_note"); },
  get size() { return t("draw.size"); },
  get email() { return t("draw.email"); },
  get enter() { return t("draw.enter"); },
  get entering() { return t("draw.entering"); },
  entered: (id) => t("draw.entered", { id }),
  won: (deadline) => t("draw.won", { time: formatClockTime(deadline) }),
  get claimed() { return t("draw.claimed"); },
  get lost() { return t("draw.lost"); },
  get lapsed() { return t("draw.lapsed"); },
  winnerIs: (names) => t("draw.winner_is", { names }),
  entryOf: (id) => t("draw.entry_of", { id }),
  drawn: (won, entries) => t("draw.drawn", { winners: t("draw.winners", { n: won }), entries: t("draw.entries", { n: entries }) }),
  get check() { return t("draw.check"); },
  get failed() { return t("draw.failed"); },
  get cardLabel() { return t("draw_card.label"); },
  get cardHint() { return t("draw_card.hint"); },
  willAuthorize: (amount) => t("draw_card.will_authorize", { amount }),
  authorized: (amount) => t("draw_card.authorized", { amount }),
  get declined() { return t("draw_card.declined"); },
  get cardNeeded() { return t("draw_card.needed"); },
  get cardUsed() { return t("draw_card.already_entered"); },
  get cardFormFailed() { return t("checkout.card_form_failed"); },
};

const POLL_MS = 5000;

export class Draws {
  constructor(viewer) {
    this.viewer = viewer;
    this.root = byId("draws");
    this.mine = new Map(); // offer id -> GET .../entries/me answer (or null: not entered)
    this.results = new Map(); // offer id -> the `draw` frame
    this.boxes = new Map(); // offer id -> its elements
    this.authorized = new Map(); // offer id -> authorized_cents, as this page's entry was answered
    this._polling = null;
    this._termsAsked = false;
    this.stripePage = StripeCheckout.fromPage() !== null; // Stripe.js takes the card (else a number field)
  }

  /** True when the hold is a draw win whose entry authorized the money: its claim captures that,
   * no card asked (viewer/buying.js). False when this page does not know (after a reload, for a
   * draw no longer listed): the sheet then asks the card, and the server still captures the
   * authorization rather than charge it (inventory/checkout.py). */
  covers(holdId) {
    for (const [id, mine] of this.mine) {
      if (!mine || mine.status !== "won" || mine.hold_id !== holdId) continue;
      if (this.authorized.has(id) || this.boxes.get(id)?.offer?.authorize) return true;
    }
    return false;
  }

  offers() {
    return [...this.viewer.state.offers.values()].filter((o) => o.mode === "draw");
  }

  /** After load: this buyer's entries (a reload keeps them). */
  async start() {
    if (!this.viewer.buyer.id) return;
    await Promise.all(this.offers().map((o) => this.refresh(o.id)));
    this.render();
  }

  async refresh(offerId) {
    try {
      this.mine.set(offerId, await api(`/api/shows/${this.viewer.slug}/offers/${offerId}/entries/me`));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) this.mine.set(offerId, null);
    }
  }

  /** The `draw` frame: the result, on every screen at once. */
  frame(frame) {
    this.results.set(frame.offer_id, frame);
    this.render();
    if (this.viewer.buyer.id) {
      this.refresh(frame.offer_id).then(() => {
        this.render();
        const mine = this.mine.get(frame.offer_id);
        if (mine && mine.status === "won") this.viewer.loadMe().then((me) => this.viewer.buying.restore(me)).catch(() => {});
      });
    }
  }

  render() {
    const offers = this.offers();
    const ids = new Set(offers.map((o) => o.id).concat([...this.results.keys()]));
    for (const [id, box] of this.boxes) {
      if (!ids.has(id)) { box.root.remove(); this.boxes.delete(id); }
    }
    for (const id of ids) {
      const offer = offers.find((o) => o.id === id) || null;
      const box = this.boxes.get(id) || this.build(id, offer);
      if (offer) box.offer = offer;
      this.paint(box);
    }
    show(this.root, this.boxes.size > 0);
  }

  build(id, offer) {
    const sizes = el("select", { className: "draw-size", "aria-label": TEXT.size });
    const pinned = this.viewer.state.pinned;
    if (pinned && offer && pinned.id === offer.product_id) {
      for (const v of pinned.variants) sizes.append(el("option", { value: v.sku }, v.label));
    }
    const email = el("input", { type: "email", className: "draw-email", maxLength: 320, autocomplete: "email",
      placeholder: TEXT.email, "aria-label": TEXT.email, required: true });
    const button = el("button", { type: "submit", className: "button button-small draw-enter" }, TEXT.enter);
    // The card, for a draw that authorizes at entry (shown by paint() when the offer says so).
    const card = el("input", { id: `draw-card-${id}`, className: "draw-card", ...CARD_INPUT,
      "aria-describedby": `draw-card-hint-${id} draw-note-${id}` });
    const cardField = el("div", { className: "draw-card-field", hidden: true },
      el("label", { htmlFor: card.id }, TEXT.cardLabel), card,
      el("p", { className: "hint", id: `draw-card-hint-${id}` }, TEXT.cardHint));
    const note = el("p", { className: "draw-note", id: `draw-note-${id}`, hidden: true });
    const error = el("p", { className: "form-error draw-error", role: "alert", hidden: true });
    const form = el("form", { className: "draw-form" }, sizes, email, cardField, note, error, button);
    const box = {
      id, offer,
      root: el("section", { className: "draw notice", dataset: { offerId: id } }),
      title: el("h2", { className: "draw-title" }),
      clock: el("p", { className: "draw-clock", role: "timer" }),
      text: el("p", { className: "draw-text", role: "status" }),
      result: el("p", { className: "draw-result", role: "status" }),
      link: el("a", { className: "draw-check", href: `/offers/${id}/verify` }, TEXT.check),
      form, sizes, email, button, card, cardField, note, errorLine: error, error: "", stripe: null,
    };
    box.root.append(box.title, box.clock, box.text, form, box.result, box.link);
    form.addEventListener("submit", (event) => { event.preventDefault(); this.enter(box); });
    this.root.append(box.root);
    this.boxes.set(id, box);
    return box;
  }

  async enter(box) {
    const authorize = Boolean(box.offer && box.offer.authorize);
    const digits = cardDigits(box.card.value);
    if (authorize && !box.stripe && !digits) {
      box.error = TEXT.cardNeeded;
      this.paint(box);
      box.card.focus();
      return;
    }
    setText(box.button, TEXT.entering);
    box.button.disabled = true;
    box.error = "";
    this.paint(box);
    let refusedCard = false;
    try {
      await this.viewer.ensureBuyer();
      const body = { sku: box.sizes.value, email: box.email.value.trim() };
      if (authorize && box.stripe) body.payment_method = await box.stripe.paymentMethod({ email: body.email });
      else if (authorize) body.card_number = digits;
      const entry = await api(`/api/shows/${this.viewer.slug}/offers/${box.id}/entries`, { method: "POST", body });
      if (Number.isInteger(entry.authorized_cents)) this.authorized.set(box.id, entry.authorized_cents);
      box.card.value = ""; // a card number belongs to this one entry
      await this.refresh(box.id);
      this.viewer.announce(TEXT.entered(this.mine.get(box.id)?.entry_id || entry.entry_id || ""));
    } catch (err) {
      const code = err instanceof ApiError ? err.code : "network";
      refusedCard = code === "payment_declined" || code === "card_already_entered" || code === "invalid_card"
        || (code === "invalid_request" && /^(card_number|payment_method)\b/.test(err.message || ""));
      box.error = code === "payment_declined" || code === "invalid_card" ? TEXT.declined
        : code === "card_already_entered" ? TEXT.cardUsed
        : refusedCard ? TEXT.cardNeeded
        : err instanceof ApiError && err.message ? err.message : TEXT.failed;
    } finally {
      setText(box.button, TEXT.enter);
      box.button.disabled = false;
      this.paint(box);
    }
    if (refusedCard && !box.stripe) {
      box.card.select();
      box.card.focus();
    }
  }

  /** What the entry will authorize: the price and the shipping to the dearest destination (the
   * entry names no country), as live/draws.py computes it; the show's terms come with the sheet. */
  _amount(box) {
    const offer = box.offer;
    const pinned = this.viewer.state.pinned;
    const currency = offer.currency || (pinned && pinned.id === offer.product_id ? pinned.currency : null) || "USD";
    const terms = this.viewer.buying?.terms || null;
    return formatMoney(offer.price_cents + entryShippingCents(terms, offer.price_cents), currency);
  }

  /** The card field (or Stripe.js's element) of a draw that authorizes at entry. */
  _paintCard(box, open) {
    const authorize = Boolean(open && box.offer && box.offer.authorize);
    if (authorize && !this._termsAsked && this.viewer.buying) {
      this._termsAsked = true; // the amount includes shipping: the show's terms, once, then paint again
      this.viewer.buying.loadTerms().then(() => this.render()).catch(() => {});
    }
    if (authorize && !box.stripe && this.stripePage) {
      box.stripe = StripeCheckout.fromPage({ cardInput: box.card.id, holder: `draw-stripe-card-${box.id}`, fieldClass: "draw-card-field" });
      if (box.stripe) box.stripe.mount().catch(() => { box.error = TEXT.cardFormFailed; this.paint(box); });
    }
    show(box.cardField, authorize && !box.stripe);
    box.card.required = authorize && !box.stripe;
    const stripeField = document.getElementById(`draw-stripe-card-${box.id}`);
    if (stripeField) show(stripeField, authorize);
    show(box.note, authorize);
    if (authorize) setText(box.note, TEXT.willAuthorize(this._amount(box)));
  }

  paint(box) {
    const offer = box.offer;
    const result = this.results.get(box.id);
    const mine = this.mine.get(box.id);
    const giveaway = (offer && offer.giveaway) || (result && result.giveaway);
    setText(box.title, giveaway ? TEXT.giveawayTitle : TEXT.drawTitle);
    const open = offer && !result && offer.state !== "ended";
    show(box.form, Boolean(open && !mine));
    this._paintCard(box, Boolean(open && !mine));
    let text = open && !mine ? `${TEXT.explain}${giveaway ? ` ${TEXT.watchNote}` : ""}` : "";
    if (mine) {
      text = {
        entered: TEXT.entered(mine.entry_id),
        won: TEXT.won(mine.claim_deadline || 0),
        claimed: TEXT.claimed,
        lost: TEXT.lost,
        lapsed: TEXT.lapsed,
      }[mine.status] || "";
    }
    const authorized = this.authorized.get(box.id);
    if (mine && mine.status === "entered" && authorized) {
      text = `${text} ${TEXT.authorized(formatMoney(authorized, box.offer?.currency || this.viewer.state.pinned?.currency || "USD"))}`;
    }
    setText(box.text, text);
    // Refusals in place, beside the fields they are about (a declined card: the card field).
    setText(box.errorLine, box.error && !mine ? box.error : "");
    show(box.errorLine, Boolean(box.error && !mine));
    if (result) {
      const names = result.winners.map((w) => w.name || TEXT.entryOf(w.entry_id)).join(", ");
      setText(box.result, result.giveaway && names ? TEXT.winnerIs(names) : TEXT.drawn(result.won, result.entries));
    }
    show(box.result, Boolean(result));
    show(box.link, Boolean(result));
    this.tickBox(box, this.viewer.clock.now());
  }

  tickBox(box, now) {
    const offer = box.offer;
    if (!offer || this.results.has(box.id)) { show(box.clock, false); return; }
    const close = offer.entries_close_at || offer.ends_at;
    const open = offer.entries_open_at || offer.starts_at;
    show(box.clock, true);
    setText(box.clock, now < open ? TEXT.opensIn(open - now) : now < close ? TEXT.closesIn(close - now) : TEXT.drawing);
  }

  tick(now) {
    for (const box of this.boxes.values()) this.tickBox(box, now);
    // A winner's outcome can change without a frame (claimed, lapsed, a unit handed over to us).
    if (!this._polling && [...this.mine.values()].some((m) => m && (m.status === "won" || m.status === "lost"))) {
      this._polling = setTimeout(async () => {
        for (const [id, m] of this.mine) if (m && (m.status === "won" || m.status === "lost")) await this.refresh(id);
        this._polling = null;
        this.render();
      }, POLL_MS);
    }
  }
}
