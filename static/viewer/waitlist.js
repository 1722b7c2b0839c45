// Back in stock (docs/notify.md): "Notify me" on a sold-out size of the pinned product, and the
// offer when a unit comes back for this buyer. The offer is already a hold the shop made for us
// (nobody else can take the unit), so "Buy" hands it to the usual checkout (viewer/buying.js) and
// "No thanks" passes it to the next person on the list.
//
// The page learns of its offer by asking GET /api/shows/{slug}/waitlist/me every few seconds while
// it has an entry: the live socket carries only what every viewer may see, and an offer is private.

import { api, ApiError } from "../common/api.js";
import { formatClockTime, formatMoney } from "../common/format.js";
import { byId, el, setText, show } from "./dom.js";
import { t } from "../common/i18n.js";

const POLL_MS = 3000;

export class Waitlist {
  constructor(viewer) {
    this.viewer = viewer;
    this.root = byId("waitlist");
    this.text = byId("waitlist-text");
    this.sizes = byId("waitlist-sizes");
    this.email = byId("waitlist-email");
    this.offerBox = byId("waitlist-offer");
    this.offerText = byId("waitlist-offer-text");
    this.entries = []; // this buyer's entries in this show (GET .../waitlist/me)
    this.busy = false;
    this._timer = null;
    this._announced = new Set(); // offers already announced

    this.sizes.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-variant]");
      if (button && !button.disabled) this.join(Number(button.dataset.variant));
    });
    byId("waitlist-buy").addEventListener("click", () => this.buy());
    byId("waitlist-decline").addEventListener("click", () => this.decline());
  }

  /** After load: entries this buyer already has (a reload keeps its place and its offer). */
  async start() {
    if (this.viewer.buyer.id) await this.refresh();
  }

  async join(variantId) {
    if (this.busy) return;
    this.busy = true;
    this.render();
    const email = this.email.value.trim();
    try {
      await this.viewer.ensureBuyer();
      const entry = await api(`/api/shows/${encodeURIComponent(this.viewer.slug)}/waitlist`, {
        method: "POST", body: email ? { variant_id: variantId, email } : { variant_id: variantId },
      });
      this.viewer.announce(t("waitlist.joined_spoken", { n: entry.place }));
      await this.refresh();
    } catch (err) {
      const code = err instanceof ApiError ? err.code : "network";
      setText(this.text, code === "in_stock" ? t("waitlist.in_stock")
        : code === "invalid_request" ? t("waitlist.bad_email")
        : code === "rate_limited" ? t("waitlist.rate_limited")
        : t("waitlist.failed"));
    } finally {
      this.busy = false;
      this.render();
    }
  }

  async refresh() {
    try {
      const answer = await api(`/api/shows/${encodeURIComponent(this.viewer.slug)}/waitlist/me`);
      this.entries = answer.entries;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.entries = [];
    }
    this._schedule();
    this.render();
  }

  get offer() {
    return this.entries.find((e) => e.offer && e.offer.state === "held") || null;
  }

  buy() {
    const entry = this.offer;
    if (!entry) return;
    const pinned = this.viewer.state.pinned;
    // The offer's hold, as the buy button's own would be: the card shows it and checkout takes it.
    this.viewer.buying.setHold({ ...entry.offer, offer_id: null, product_id: pinned ? pinned.id : undefined });
    this.viewer.buying.openCheckout();
  }

  async decline() {
    const entry = this.offer;
    if (!entry) return;
    try {
      await api(`/api/shows/${encodeURIComponent(this.viewer.slug)}/waitlist/offers/${encodeURIComponent(entry.id)}/decline`,
        { method: "POST" });
      this.viewer.announce(t("waitlist.declined"));
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== "offer_closed") {
        setText(this.text, t("waitlist.offline"));
        return;
      }
    }
    if (this.viewer.buying.hold && this.viewer.buying.hold.hold_id === entry.offer.hold_id) this.viewer.buying.setHold(null);
    await this.refresh();
  }

  _schedule() {
    clearTimeout(this._timer);
    if (this.entries.some((e) => e.state === "waiting" || e.offer)) {
      this._timer = setTimeout(() => this.refresh(), POLL_MS);
    }
  }

  render() {
    const { state, clock } = this.viewer;
    const pinned = state.pinned;
    const live = state.show.status === "live";
    const mine = new Map(this.entries.map((e) => [e.variant_id, e]));
    const offer = this.offer;
    const soldOut = pinned ? pinned.variants.filter((v) => state.available(v.sku) === 0) : [];
    const holding = Boolean(this.viewer.buying.hold);
    show(this.root, Boolean(pinned && live && (soldOut.length || offer)));
    if (this.root.hidden) return;

    show(this.offerBox, Boolean(offer) && !(holding && this.viewer.buying.hold.hold_id === offer.offer.hold_id));
    if (offer) {
      const label = offer.variant_label || state.label(offer.sku);
      setText(this.offerText, t("waitlist.offer", { size: label, price: formatMoney(offer.offer.price_cents, offer.offer.currency), time: formatClockTime(offer.offer.deadline) }));
      if (!this._announced.has(offer.offer.hold_id)) {
        this._announced.add(offer.offer.hold_id);
        this.viewer.announce(t("waitlist.offer_spoken", { size: label, time: formatClockTime(offer.offer.deadline) }));
      }
    }
    const waiting = soldOut.filter((v) => mine.get(v.id)?.state === "waiting");
    setText(this.text, waiting.length
      ? waiting.map((v) => t("waitlist.place", { size: v.label, n: mine.get(v.id).place })).join(" ")
      : t("waitlist.pitch"));
    this.sizes.replaceChildren(...soldOut.filter((v) => !mine.has(v.id) || mine.get(v.id).state !== "waiting")
      .map((v) => el("button", { type: "button", className: "button button-small", disabled: this.busy,
        dataset: { variant: String(v.id) } }, t("waitlist.notify_me", { size: v.label }))));
    void clock;
  }
}
