// Offers: the composer (product, price, duration, quantity, per-customer limit, hold time; it
// starts at once), "start the last offer again" (the R shortcut), and the list of this show's
// offers with their countdowns and "End now". An ended offer stays in the list for a while so the
// host sees what just happened.

import { formatCountdown, formatMoney, moneyInput, parseMoney } from "../common/format.js";
import { $, clear, flash, h, keepingFocus } from "./dom.js";
import { act } from "./feedback.js";

const ENDED_SHOWN_MS = 15000;

function terms(o) {
  return `${o.remaining ?? "all"} of ${o.quantity ?? "all"} left · ${o.per_customer_limit} per customer · hold ${o.hold_s}s`;
}

export class Offers {
  constructor(panel) {
    this.panel = panel;
    this.list = $("#offers");
    this.form = $("#offer-form");
    this.product = $("#offer-product");
    this.price = $("#offer-price");
    this.startButton = $("#offer-start");
    // The last offer started here, kept per tab so R still repeats it after a reload.
    this.storageKey = `livedrop.lastOffer.${panel.slug}`;
    this.last = JSON.parse(sessionStorage.getItem(this.storageKey) || "null");

    this.product.addEventListener("change", () => this.fillPrice(true));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  // -- the composer ------------------------------------------------------------------------------

  /** The composer's product choices follow the lineup; the pinned product is the default. */
  renderProducts() {
    const { products, state } = this.panel;
    const chosen = this.product.value;
    clear(this.product);
    for (const p of products) this.product.append(h("option", { value: p.id }, `${p.title} (${formatMoney(p.price_cents, p.currency)})`));
    if (chosen && products.some((p) => String(p.id) === chosen)) this.product.value = chosen;
    else if (state.pinned) this.product.value = String(state.pinned.id);
    this.fillPrice(false);
  }

  selected() {
    return this.panel.products.find((p) => String(p.id) === this.product.value) || null;
  }

  fillPrice(force) {
    const p = this.selected();
    if (p && (force || !this.price.value)) this.price.value = moneyInput(p.price_cents, p.currency);
  }

  composeFor(p) {
    this.product.value = String(p.id);
    this.fillPrice(true);
    this.price.focus();
    this.price.select();
  }

  submit() {
    const p = this.selected();
    if (!p) return flash("Choose a product for the offer.");
    const price = parseMoney(this.price.value, p.currency);
    if (price === null) return flash("Offer price: write it like 99.00.");
    const spec = {
      product_id: p.id,
      price_cents: price,
      duration_s: Number.parseInt($("#offer-duration").value, 10),
      per_customer_limit: Number.parseInt($("#offer-limit").value, 10),
      hold_s: Number.parseInt($("#offer-hold").value, 10),
    };
    const quantity = $("#offer-quantity").value.trim();
    if (quantity) spec.quantity = Number.parseInt(quantity, 10);
    return this.start(spec, this.startButton);
  }

  async start(spec, button) {
    const { api, path } = this.panel;
    const offer = await act(button, () => api(`${path}/offers`, { method: "POST", body: spec }), "Offer started.");
    if (offer) {
      this.last = spec;
      sessionStorage.setItem(this.storageKey, JSON.stringify(spec));
      this.panel.apply({ type: "offer", ...offer }); // the answer is the offer, as its frame will carry it
    }
  }

  repeatLast() {
    if (!this.last) return flash("No offer started from this screen yet.");
    return this.start({ ...this.last }, this.startButton);
  }

  // -- the list ----------------------------------------------------------------------------------

  render() {
    keepingFocus(this.list, () => this.draw());
  }

  draw() {
    const { clock, products, state } = this.panel;
    const now = clock.now();
    clear(this.list);
    const shown = [...state.offers.values()]
      .filter((o) => o.state !== "ended" || now - o.ends_at < ENDED_SHOWN_MS)
      .sort((a, b) => b.id - a.id);
    if (!shown.length) this.list.append(h("li", { class: "muted small" }, "No offer running. Compose one above; it starts at once."));
    for (const o of shown) {
      const product = products.find((p) => p.id === o.product_id);
      const currency = o.currency || product?.currency || "USD";
      this.list.append(h("li", { dataset: { offerId: o.id, state: o.state } },
        h("div", { class: "grow" },
          h("strong", {}, o.title || product?.title || `Product ${o.product_id}`), " ",
          h("span", {}, formatMoney(o.price_cents, currency)),
          h("div", { class: "muted small", dataset: { remainingOf: o.id } }, terms(o))),
        h("span", { class: "countdown", dataset: { endsAt: o.ends_at, startsAt: o.starts_at, state: o.state }, "aria-label": "time left" }, ""),
        o.state !== "ended"
          ? h("button", { type: "button", class: "btn btn-small btn-danger", dataset: { focusKey: `end-${o.id}` },
            onclick: (e) => this.end(o, e.currentTarget) }, "End now")
          : h("span", { class: "muted small" }, "ended")));
    }
    this.tick(now);
  }

  async end(offer, button) {
    const { api, clock, path } = this.panel;
    await act(button, async () => {
      await api(`${path}/offers/${offer.id}`, { method: "DELETE" });
      // Ended now, not at its planned end; the server's `offer` frame says the same moments later.
      this.panel.apply({ type: "offer", ...offer, state: "ended", ends_at: Math.min(offer.ends_at, clock.now()) });
    }, "Offer ended.");
  }

  /** A stock frame moved an offer's units left (its cap across sizes): the numbers, not the list. */
  showRemaining() {
    for (const line of this.list.querySelectorAll("[data-remaining-of]")) {
      const offer = this.panel.state.offers.get(Number(line.dataset.remainingOf));
      if (offer) line.textContent = terms(offer);
    }
  }

  /** Countdowns, in the server's clock (so the host sees the second the viewers see). */
  tick(now) {
    for (const el of this.list.querySelectorAll(".countdown")) {
      if (el.dataset.state === "ended") el.textContent = "0:00";
      else if (now < Number(el.dataset.startsAt)) el.textContent = `starts in ${formatCountdown(Number(el.dataset.startsAt) - now)}`;
      else el.textContent = formatCountdown(Number(el.dataset.endsAt) - now);
    }
  }
}
