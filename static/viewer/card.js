// The pinned product card: image, title, price (an offer's price beside the struck-through
// regular one), the offer's countdown, size chips with live stock, the buy button, and the one
// message line that says what happened and what to do next. A drop with a waiting room shows its
// line here too (viewer/queue.js, when the page has one): Buy waits for the buyer's turn.

import { formatCountdown, formatMoney, spokenDuration } from "../common/format.js";
import { byId, el, setText, show } from "./dom.js";

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
      this.setNotice({ text: "Pick a size first." });
      const first = this.chips.querySelector("button[data-sku]:not([disabled])");
      if (first) first.focus();
      return;
    }
    if (state.available(this.selected) === 0) {
      this.setNotice({ text: `${state.label(this.selected)} is sold out. Pick another size.` });
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
          `Offer: ${formatMoney(offer.price_cents, currency)}${discounted ? ` instead of ${formatMoney(pinned.price_cents, currency)}` : ""}, ends in ${spokenDuration(offer.ends_at - now)}.`,
        );
      } else if (before.startsWith("live:")) {
        this.viewer.announce("The offer has ended.");
      }
    }
    show(this.offerLine, Boolean(offer || upcoming));
    if (offer) {
      setText(this.offerTag, "Offer");
      this.offerLine.classList.remove("upcoming");
      const left = offer.quantity !== null && offer.quantity !== undefined && Number.isInteger(offer.remaining)
        ? `${offer.remaining} left at this price` : "";
      setText(this.offerLeft, left);
    } else if (upcoming) {
      setText(this.offerTag, `${formatMoney(upcoming.price_cents, currency)} offer`);
      this.offerLine.classList.add("upcoming");
      setText(this.offerLeft, "");
    }
    this.tick(now);

    this._renderChips();

    // What the buyer can do now: buy, check out a hold, or read why not.
    const live = state.show.status === "live";
    const hold = buying.holdFor(pinned);
    const soldOut = pinned.variants.length > 0 && pinned.variants.every((v) => state.available(v.sku) === 0);
    let stateText = "";
    if (state.show.status === "scheduled") stateText = "On sale when the show goes live.";
    else if (state.show.status === "ended") stateText = "The show has ended, so this is no longer on sale here.";
    else if (soldOut && !hold) stateText = "Sold out in every size. Stay tuned: the host may have another drop.";
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
      const label = this.selected ? `Buy ${state.label(this.selected)} · ${formatMoney(unit, currency)}` : `Buy · ${formatMoney(unit, currency)}`;
      setText(this.buyButton, this.busy ? "Reserving…" : label);
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
      setText(this.offerCountdown, `ends in ${formatCountdown(left)}`);
      this.offerCountdown.setAttribute("aria-label", `Offer ends in ${spokenDuration(left)}`);
      if (left <= 60000 && left > 50000 && !this._announcedOfferMinute.has(offer.id)) {
        this._announcedOfferMinute.add(offer.id);
        this.viewer.announce("The offer ends in 1 minute.");
      }
    } else if (upcoming) {
      setText(this.offerCountdown, `starts in ${formatCountdown(upcoming.starts_at - now)}`);
      this.offerCountdown.setAttribute("aria-label", `Offer starts in ${spokenDuration(upcoming.starts_at - now)}`);
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
      const text = n === null ? "" : soldOut ? "Sold out" : `${n} left`;
      setText(chip.querySelector(".chip-stock"), text);
      chip.disabled = soldOut;
      chip.classList.toggle("sold-out", soldOut);
      chip.setAttribute("aria-pressed", String(sku === this.selected));
      chip.setAttribute("aria-label", text ? `${label}, ${text.toLowerCase()}` : label);
      const before = this._lastStock[sku];
      this._lastStock[sku] = n;
      if (sku === this.selected && before !== undefined && before !== n && n !== null) this._stockMoved(sku, label, n);
    }
    // (Not while a press is on its way: the unit that just went may be the one being held for us.)
    if (this.selected && state.available(this.selected) === 0 && !this.viewer.buying.hold && !this.busy) {
      const label = state.label(this.selected);
      this.selected = null;
      this.notice = { text: `${label} just sold out. Pick another size.` };
      this.viewer.announce(this.notice.text);
    }
  }

  _stockMoved(sku, label, n) {
    if (n === 0) return; // announced as "just sold out"
    const now = Date.now();
    if (n <= LOW_STOCK && now - this._lastStockAnnounce >= STOCK_ANNOUNCE_EVERY_MS) {
      this._lastStockAnnounce = now;
      this.viewer.announce(`${label}: ${n} left.`);
    }
  }
}

function productKey(product) {
  return JSON.stringify([product.id, product.title, product.image_url, product.variants.map((v) => [v.sku, v.label])]);
}
