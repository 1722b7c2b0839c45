// The pinned product card: image, title, price (an offer's price beside the struck-through
// regular one), the offer's countdown, size chips with live stock, the buy button, and the one
// message line that says what happened and what to do next. A drop with a waiting room shows its
// line here too (viewer/queue.js, when the page has one): Buy waits for the buyer's turn.

import { formatCountdown, formatMoney, spokenDuration } from "../common/format.js";
import { byId, el, setText, show } from "./dom.js";
import { t } from "../common/i18n.js";

const LOW_STOCK = 5; // below this, a change in the chosen size's stock is announced
const STOCK_ANNOUNCE_EVERY_MS = 5000;

export class Card {
  constructor(viewer) {
    this.viewer = viewer;
    this.root = byId("card");
    this.noProduct = byId("no-product");
    this.image = byId("product-image");
    this.title = byId("product-title");
    this.priceNow = byId("price-now");
    this.priceWas = byId("price-was");
    this.priceWasAmount = byId("price-was-amount");
    this.offerLine = byId("offer-line");
    this.offerTag = byId("offer-tag");
    this.offerCountdown = byId("offer-countdown");
    this.offerLeft = byId("offer-left");
    this.sizes = byId("sizes");
    this.chips = byId("chips");
    this.buyButton = byId("buy");
    this.message = byId("card-message");
    this.messageText = byId("card-message-text");
    this.messageAction = byId("card-message-action");
    this.selected = null; // the chosen SKU
    this.busy = false; // a buy press is on its way
    this.notice = null; // {text, actionLabel, action}: what the last press ran into
    this._productKey = "";
    this._offerKey = "";
    this._announcedOfferMinute = new Set();
    this._lastStock = {};
    this._lastStockAnnounce = 0;

    this.buyButton.addEventListener("click", () => this.press());
    this.messageAction.addEventListener("click", () => {
      const action = this.notice?.action;
      this.setNotice(null);
      if (action) action();
    });
    this.chips.addEventListener("click", (event) => {
      const chip = event.target.closest("button[data-sku]");
      if (!chip || chip.disabled) return;
      this.choose(chip.dataset.sku);
    });
  }

  choose(sku) {
    this.selected = sku;
    this.setNotice(null);
    this.render();
  }

  /** The buy button. Never a dead button: without a size it says so and moves focus there. */
  press() {
    const { state } = this.viewer;
    if (this.busy) return;
    if (!this.selected) {
      this.setNotice({ text: t("card.pick_size") });
      const first = this.chips.querySelector("button[data-sku]:not([disabled])");
      if (first) first.focus();
      return;
    }
    if (state.available(this.selected) === 0) {
      this.setNotice({ text: t("card.size_sold_out", { size: state.label(this.selected) }) });
      return;
    }
    this.viewer.buying.buy(this.selected);
  }

  setBusy(busy) {
    this.busy = busy;
    this.render();
  }

  /** Shows a sentence (and optionally one button with the next step) in the card. */
  setNotice(notice) {
    this.notice = notice;
    this.render();
    if (notice && notice.announce !== false) this.viewer.announce(notice.text);
  }

  render() {
    const { state, clock, buying } = this.viewer;
    const pinned = state.pinned;
    show(this.root, Boolean(pinned));
    show(this.noProduct, !pinned && state.show.status === "live");
    if (!pinned) {
      this._offerKey = "";
      if (this.viewer.queue) this.viewer.queue.render(clock.now(), null);
      return;
    }
    const now = clock.now();
    const offer = state.liveOffer(now);
    const upcoming = offer ? null : state.upcomingOffer(now);
    const currency = pinned.currency;

    if (this._productKey !== productKey(pinned)) {
      this._productKey = productKey(pinned);
      this._renderProduct(pinned);
    }

    // Price: an offer's price beside the regular one, struck through.
    const unit = offer ? offer.price_cents : pinned.price_cents;
    setText(this.priceNow, formatMoney(unit, currency));
    const discounted = offer && offer.price_cents !== pinned.price_cents;
    show(this.priceWas, Boolean(discounted));
    if (discounted) setText(this.priceWasAmount, formatMoney(pinned.price_cents, currency));

    // The offer line: a countdown to its end (or to its start), and what is left at that price.
    const offerKey = offer ? `live:${offer.id}` : upcoming ? `next:${upcoming.id}` : "";
    if (offerKey !== this._offerKey) {
      const before = this._offerKey;
      this._offerKey = offerKey;
      if (offer) {
        this.viewer.announce(
          discounted
            ? t("card.offer_spoken_discounted", { price: formatMoney(offer.price_cents, currency), was: formatMoney(pinned.price_cents, currency), duration: spokenDuration(offer.ends_at - now) })
            : t("card.offer_spoken", { price: formatMoney(offer.price_cents, currency), duration: spokenDuration(offer.ends_at - now) }),
        );
      } else if (before.startsWith("live:")) {
        this.viewer.announce(t("card.offer_ended"));
      }
    }
    show(this.offerLine, Boolean(offer || upcoming));
    if (offer) {
      setText(this.offerTag, t("card.offer"));
      this.offerLine.classList.remove("upcoming");
      const left = offer.quantity !== null && offer.quantity !== undefined && Number.isInteger(offer.remaining)
        ? t("card.offer_left", { n: offer.remaining }) : "";
      setText(this.offerLeft, left);
    } else if (upcoming) {
      setText(this.offerTag, t("card.upcoming_offer", { price: formatMoney(upcoming.price_cents, currency) }));
      this.offerLine.classList.add("upcoming");
      setText(this.offerLeft, "");
    }
    this.tick(now);

    this._renderChips();

    // What the buyer can do now: buy, check out a hold, or read why not. A recorded show's replay
    // sells at list price after the end (live/sales.py): its page says so with viewer.replay.
    const live = state.show.status === "live" || (state.show.status === "ended" && Boolean(this.viewer.replay));
    const hold = buying.holdFor(pinned);
    const soldOut = pinned.variants.length > 0 && pinned.variants.every((v) => state.available(v.sku) === 0);
    let stateText = "";
    if (state.show.status === "scheduled") stateText = t("card.on_sale_when_live");
    else if (state.show.status === "ended" && !live) stateText = t("card.show_ended");
    else if (soldOut && !hold) stateText = t("card.sold_out_everywhere");
    // A waiting room's drop (viewer/queue.js): Buy only for a buyer the line has let in.
    const gate = this.viewer.queue ? this.viewer.queue.gate(pinned, now) : null;
    const waiting = Boolean(gate && !gate.canBuy);
    this.root.dataset.queue = gate ? (gate.canBuy ? "admitted" : "waiting") : "";
    if (this.viewer.queue) {
      this.viewer.queue.render(now, gate ? gate.offer : null, { hold, soldOut, ended: state.show.status === "ended" });
    }
    show(this.buyButton, live && !hold && !soldOut && !waiting);
    this.sizes.disabled = !live;
    if (this.buyButton.hidden === false) {
      const label = this.selected
        ? t("card.buy_size", { size: state.label(this.selected), price: formatMoney(unit, currency) })
        : t("card.buy_price", { price: formatMoney(unit, currency) });
      setText(this.buyButton, this.busy ? t("card.reserving") : label);
      this.buyButton.setAttribute("aria-busy", String(this.busy));
      this.buyButton.disabled = this.busy;
    }
    const notice = this.notice || (stateText ? { text: stateText } : null);
    show(this.message, Boolean(notice));
    if (notice) {
      setText(this.messageText, notice.text);
      show(this.messageAction, Boolean(notice.actionLabel));
      if (notice.actionLabel) setText(this.messageAction, notice.actionLabel);
    }
  }

  /** Countdown text only; called several times a second. Announces the last minute once. */
  tick(now) {
    const { state } = this.viewer;
    if (!state.pinned) return;
    const offer = state.liveOffer(now);
    const upcoming = offer ? null : state.upcomingOffer(now);
    const key = offer ? `live:${offer.id}` : upcoming ? `next:${upcoming.id}` : "";
    if (key !== this._offerKey) {
      this.render(); // an offer just started or ended by the clock: redraw prices and the line
      return;
    }
    if (offer) {
      const left = offer.ends_at - now;
      setText(this.offerCountdown, t("card.ends_in", { time: formatCountdown(left) }));
      this.offerCountdown.setAttribute("aria-label", t("card.offer_ends_in", { duration: spokenDuration(left) }));
      if (left <= 60000 && left > 50000 && !this._announcedOfferMinute.has(offer.id)) {
        this._announcedOfferMinute.add(offer.id);
        this.viewer.announce(t("card.offer_ends_minute"));
      }
    } else if (upcoming) {
      setText(this.offerCountdown, t("card.starts_in", { time: formatCountdown(upcoming.starts_at - now) }));
      this.offerCountdown.setAttribute("aria-label", t("card.offer_starts_in", { duration: spokenDuration(upcoming.starts_at - now) }));
    }
  }

  _renderProduct(pinned) {
    setText(this.title, pinned.title);
    if (pinned.image_url) {
      this.image.src = pinned.image_url;
      this.image.alt = pinned.title;
      show(this.image, true);
    } else {
      this.image.removeAttribute("src");
      show(this.image, false);
    }
    const still = document.getElementById("stream-still");
    if (still && pinned.image_url) {
      still.src = pinned.image_url;
      still.hidden = false;
    }
    if (this.selected && !pinned.variants.some((v) => v.sku === this.selected)) this.selected = null;
    const focused = document.activeElement?.dataset?.sku;
    this.chips.replaceChildren(
      ...pinned.variants.map((v) =>
        el("button", { type: "button", className: "chip", dataset: { sku: v.sku } },
          el("span", { className: "chip-label" }, v.label),
          el("span", { className: "chip-stock" }, "")),
      ),
    );
    if (focused) this.chips.querySelector(`[data-sku="${CSS.escape(focused)}"]`)?.focus();
    this._lastStock = {};
    this.notice = null; // about the previous product
  }

  _renderChips() {
    const { state } = this.viewer;
    for (const chip of this.chips.querySelectorAll("button[data-sku]")) {
      const sku = chip.dataset.sku;
      const label = state.label(sku);
      const n = state.available(sku);
      const soldOut = n === 0;
      const text = n === null ? "" : soldOut ? t("card.sold_out") : t("card.left", { n });
      setText(chip.querySelector(".chip-stock"), text);
      chip.disabled = soldOut;
      chip.classList.toggle("sold-out", soldOut);
      chip.setAttribute("aria-pressed", String(sku === this.selected));
      chip.setAttribute("aria-label", text ? t("card.chip_label", { size: label, stock: text.toLowerCase() }) : label);
      const before = this._lastStock[sku];
      this._lastStock[sku] = n;
      if (sku === this.selected && before !== undefined && before !== n && n !== null) this._stockMoved(sku, label, n);
    }
    // (Not while a press is on its way: the unit that just went may be the one being held for us.)
    if (this.selected && state.available(this.selected) === 0 && !this.viewer.buying.hold && !this.busy) {
      const label = state.label(this.selected);
      this.selected = null;
      this.notice = { text: t("card.just_sold_out", { size: label }) };
      this.viewer.announce(this.notice.text);
    }
  }

  _stockMoved(sku, label, n) {
    if (n === 0) return; // announced as "just sold out"
    const now = Date.now();
    if (n <= LOW_STOCK && now - this._lastStockAnnounce >= STOCK_ANNOUNCE_EVERY_MS) {
      this._lastStockAnnounce = now;
      this.viewer.announce(t("card.stock_spoken", { size: label, n }));
    }
  }
}

function productKey(product) {
  return JSON.stringify([product.id, product.title, product.image_url, product.variants.map((v) => [v.sku, v.label])]);
}
