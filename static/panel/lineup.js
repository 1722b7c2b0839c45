// The lineup: the host's products with their live stock per size, Pin / Unpin, "Offer…" to
// compose an offer for one, and "In the bag" to choose which products viewers can browse and hold
// from the show's bag (docs/bag.md: PUT /api/shows/{slug}/bag). "Pin next" (the N shortcut) walks the lineup.

import { formatMoney } from "../common/format.js";
import { $, clear, flash, h, keepingFocus } from "./dom.js";
import { act } from "./feedback.js";
import { t } from "../common/i18n.js";

export class Lineup {
  constructor(panel) {
    this.panel = panel;
    this.list = $("#lineup");
    this.empty = $("#lineup-empty");
    // The show's bag as the host chose it (GET .../bag: ids in the host's order), null until read.
    // Not the snapshot's `bag`, which always lists the pinned product first, in the bag or not.
    this.bagIds = null;
    this._bagSaving = false;
  }

  /** Reads the bag (at start, and when a `bag` frame says another panel changed it). */
  async loadBag() {
    try {
      const { product_ids: ids } = await this.panel.api(`${this.panel.path}/bag`);
      if (this._bagSaving) return; // this panel's own change answers for itself
      this.bagIds = ids;
      this.render();
    } catch {
      /* the toggles stay disabled; the next bag frame tries again */
    }
  }

  /** Puts the product in the bag (last) or takes it out: every viewer's bag changes at once. */
  async toggleBag(product, box) {
    if (this.bagIds === null) return;
    const inBag = this.bagIds.includes(product.id);
    const ids = inBag ? this.bagIds.filter((id) => id !== product.id) : [...this.bagIds, product.id];
    this._bagSaving = true;
    const saved = await act(box, async () => {
      const answer = await this.panel.api(`${this.panel.path}/bag`, { method: "PUT", body: { product_ids: ids } });
      return answer.product_ids;
    }, t(inBag ? "panel.lineup.bag_removed" : "panel.lineup.bag_added", { title: product.title }));
    this._bagSaving = false;
    if (saved) this.bagIds = saved;
    this.render(); // refused: the box shows the bag as it is again
  }

  render() {
    keepingFocus(this.list, () => this.draw());
  }

  draw() {
    const { products, state } = this.panel;
    const pinnedId = state.pinned?.id ?? null;
    const ended = this.panel.ended ? this.panel.ended() : false; // after End: nothing to pin or offer
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
          // The accessible name starts with the visible word (WCAG 2.5.3: a voice user says "Unpin").
          pinned ? h("span", { class: "pinned-tag" }, t("panel.lineup.pinned_tag")) : null,
          h("button", {
            type: "button", class: "btn btn-small", "aria-pressed": pinned ? "true" : "false", dataset: { focusKey: `pin-${p.id}` },
            "aria-label": pinned ? t("panel.lineup.unpin", { title: p.title }) : t("panel.lineup.pin", { title: p.title }), disabled: ended,
            onclick: (e) => (pinned ? this.unpin(e.currentTarget) : this.pin(p.id, e.currentTarget)),
          }, pinned ? t("panel.lineup.unpin_button") : t("panel.lineup.pin_button")),
          h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": t("panel.lineup.offer_label", { title: p.title }), disabled: ended,
            dataset: { focusKey: `offer-${p.id}` }, onclick: () => this.panel.offers.composeFor(p) }, t("panel.lineup.offer")),
          this.bagToggle(p, ended))));
    }
  }

  bagToggle(product, ended) {
    const box = h("input", {
      type: "checkbox", class: "bag-toggle-box", checked: Boolean(this.bagIds?.includes(product.id)),
      disabled: ended || this.bagIds === null, dataset: { focusKey: `bag-${product.id}` },
      "aria-label": t("panel.lineup.in_bag_label", { title: product.title }),
      onchange: (e) => this.toggleBag(product, e.currentTarget),
    });
    return h("label", { class: "bag-toggle small" }, box, " ", t("panel.lineup.in_bag"));
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
    }, product ? t("panel.lineup.pinned", { title: product.title }) : null);
  }

  async unpin(button) {
    const { api, path } = this.panel;
    await act(button, async () => {
      await api(`${path}/pin`, { method: "DELETE" });
      this.panel.apply({ type: "unpin" });
    }, t("panel.lineup.unpinned"));
  }

  pinNext() {
    const { products, state } = this.panel;
    if (this.panel.ended && this.panel.ended()) return undefined;
    if (!products.length) return flash(t("panel.lineup.nothing"));
    const at = products.findIndex((p) => p.id === state.pinned?.id);
    const next = products[(at + 1) % products.length];
    return this.pin(next.id, null);
  }
}
