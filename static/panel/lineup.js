// The lineup: the host's products with their live stock per size, Pin / Unpin, and "Offer…" to
// compose an offer for one. "Pin next" (the N shortcut) walks the lineup.

import { formatMoney } from "../common/format.js";
import { $, clear, flash, h, keepingFocus } from "./dom.js";
import { act } from "./feedback.js";

export class Lineup {
  constructor(panel) {
    this.panel = panel;
    this.list = $("#lineup");
    this.empty = $("#lineup-empty");
  }

  render() {
    keepingFocus(this.list, () => this.draw());
  }

  draw() {
    const { products, state } = this.panel;
    const pinnedId = state.pinned?.id ?? null;
    clear(this.list);
    this.empty.hidden = products.length > 0;
    for (const p of products) {
      const pinned = p.id === pinnedId;
      const stockChips = p.variants.map((v) => {
        const left = state.stock[v.sku];
        return h("span", { class: `chip${left === 0 ? " out" : ""}`, dataset: { sku: v.sku, label: v.label } },
          `${v.label}: ${left === undefined ? v.stock : left}${this.waitlistText(v.sku)}`);
      });
      this.list.append(h("li", { class: pinned ? "pinned" : "", dataset: { productId: p.id } },
        p.image_url ? h("img", { class: "thumb thumb-small", src: p.image_url, alt: "" }) : h("div", { class: "thumb thumb-small", "aria-hidden": "true" }),
        h("div", {},
          h("div", { class: "title" }, p.title),
          h("div", { class: "muted small" }, formatMoney(p.price_cents, p.currency)),
          h("div", { class: "chips" }, stockChips)),
        h("div", { class: "actions" },
          h("button", {
            type: "button", class: "btn btn-small", "aria-pressed": pinned ? "true" : "false", dataset: { focusKey: `pin-${p.id}` },
            "aria-label": pinned ? `Unpin ${p.title}` : `Pin ${p.title}`,
            onclick: (e) => (pinned ? this.unpin(e.currentTarget) : this.pin(p.id, e.currentTarget)),
          }, pinned ? "Pinned · unpin" : "Pin"),
          h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": `Compose an offer for ${p.title}`,
            dataset: { focusKey: `offer-${p.id}` }, onclick: () => this.panel.offers.composeFor(p) }, "Offer…"))));
    }
  }

  /** Stock moves many times a second in a drop: change the numbers, not the elements. */
  showStock() {
    const { stock } = this.panel.state;
    for (const chip of this.list.querySelectorAll(".chip[data-sku]")) {
      const left = stock[chip.dataset.sku];
      if (left === undefined) continue;
      chip.textContent = `${chip.dataset.label}: ${left}${this.waitlistText(chip.dataset.sku)}`;
      chip.classList.toggle("out", left === 0);
    }
  }

  /** Who waits for the size (panel/waitlist.js), after its stock. */
  waitlistText(sku) {
    return this.panel.waitlist ? this.panel.waitlist.suffix(sku) : "";
  }

  async pin(productId, button) {
    const { api, path, products } = this.panel;
    const product = products.find((p) => p.id === productId);
    await act(button, async () => {
      // The answer is the pinned product, as its `pin` frame will carry it: shown at once.
      const pinned = await api(`${path}/pin`, { method: "PUT", body: { product_id: productId } });
      this.panel.apply({ type: "pin", product_id: productId, product: pinned });
    }, product ? `Pinned “${product.title}”.` : null);
  }

  async unpin(button) {
    const { api, path } = this.panel;
    await act(button, async () => {
      await api(`${path}/pin`, { method: "DELETE" });
      this.panel.apply({ type: "unpin" });
    }, "Unpinned.");
  }

  pinNext() {
    const { products, state } = this.panel;
    if (!products.length) return flash("No products to pin yet.");
    const at = products.findIndex((p) => p.id === state.pinned?.id);
    const next = products[(at + 1) % products.length];
    return this.pin(next.id, null);
  }
}
