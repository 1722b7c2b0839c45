// The show's orders, newest first, each with its receipt. Fetched only when /stats says the count
// changed, so a quiet show costs nothing.

import { formatClockTime, formatMoney } from "../common/format.js";
import { $, clear, flash, h } from "./dom.js";
import { problem } from "./feedback.js";

export class Orders {
  constructor(panel) {
    this.panel = panel;
    this.shown = -1; // how many orders the table shows (-1: none fetched yet, or the last fetch failed)
    this.body = $("#orders");
    this.count = $("#orders-count");
  }

  /** The number of orders the books have now. */
  update(count) {
    if (count !== this.shown) this.load(count);
  }

  async load(count) {
    this.shown = count;
    try {
      const { orders } = await this.panel.api(`${this.panel.path}/orders`);
      this.count.textContent = `(${orders.length})`;
      const body = clear(this.body);
      if (!orders.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted small" }, "No orders yet.")));
      for (const o of [...orders].reverse()) {
        body.append(h("tr", { dataset: { orderId: o.order_id } },
          h("td", {}, h("a", { href: o.receipt_url, target: "_blank", rel: "noopener" }, o.number)),
          h("td", {}, formatClockTime(o.created_at)),
          h("td", {}, o.name),
          h("td", {}, o.lines.map((l) => `${l.quantity} × ${l.label} (${l.sku})`).join(", ")),
          h("td", {}, formatMoney(o.total_cents, o.currency))));
      }
    } catch (err) {
      this.shown = -1;
      flash(problem(err));
    }
  }
}
