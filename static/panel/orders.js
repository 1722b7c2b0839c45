// The show's orders, newest first, each with its receipt, its status and tracking, and what the
// host can do with it: mark shipped (carrier, tracking), mark delivered, refund (units of a line,
// with or without putting them back on sale), cancel before it ships. Many orders are marked
// shipped at once from a CSV (number, carrier, tracking), with a result per row. Fetched only when
// /stats says the count changed (or after an action here), so a quiet show costs nothing.
// The order's life: docs/orders.md.

import { newKey } from "../common/api.js";
import { formatClockTime, formatMoney } from "../common/format.js";
import { $, clear, flash, h } from "./dom.js";
import { act, problem } from "./feedback.js";

const STATUS_TEXT = {
  paid: "Paid",
  fulfilled: "Shipped",
  delivered: "Delivered",
  partially_refunded: "Partly refunded",
  refunded: "Refunded",
  cancelled: "Cancelled",
};
const SELLING = ["paid", "fulfilled", "delivered", "partially_refunded"];

export class Orders {
  constructor(panel) {
    this.panel = panel;
    this.shown = -1; // how many orders the table shows (-1: none fetched yet, or the last fetch failed)
    this.body = $("#orders");
    this.count = $("#orders-count");
    this.csvInput = $("#shipments-file");
    this.csvResult = $("#shipments-result");
    if (this.csvInput) this.csvInput.addEventListener("change", () => this.uploadShipments());
  }

  /** The number of orders the books have now. */
  update(count) {
    if (count !== this.shown) this.load(count);
  }

  async load(count = this.shown) {
    this.shown = count;
    try {
      const { orders } = await this.panel.api(`${this.panel.path}/orders`);
      this.count.textContent = `(${orders.length})`;
      const body = clear(this.body);
      if (!orders.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted small" }, "No orders yet.")));
      for (const o of [...orders].reverse()) body.append(this.row(o));
    } catch (err) {
      this.shown = -1;
      flash(problem(err));
    }
  }

  row(o) {
    const tracking = o.tracking_number || o.carrier
      ? h("div", { class: "small muted order-tracking" }, [o.carrier, o.tracking_number].filter(Boolean).join(" "))
      : null;
    const refunded = o.refunded_cents ? h("div", { class: "small muted" }, `${formatMoney(o.refunded_cents, o.currency)} refunded`) : null;
    const actions = h("td", { class: "order-actions" });
    const tr = h("tr", { dataset: { orderId: o.order_id, status: o.status } },
      h("td", {}, h("a", { href: o.receipt_url, target: "_blank", rel: "noopener" }, o.number)),
      h("td", {}, formatClockTime(o.created_at)),
      h("td", {}, o.name),
      h("td", {}, o.lines.map((l) => `${l.quantity} × ${l.label} (${l.sku})`).join(", ")),
      h("td", {}, formatMoney(o.total_cents, o.currency)),
      h("td", {}, h("span", { class: "badge order-status", "data-status": o.status }, STATUS_TEXT[o.status] || o.status), tracking, refunded),
      actions);
    const selling = SELLING.includes(o.status);
    const shipped = o.fulfilled_at !== null && o.fulfilled_at !== undefined;
    const button = (text, onclick, cls = "btn btn-quiet btn-small") => h("button", { type: "button", class: cls, onclick }, text);
    if (selling && !o.delivered_at) actions.append(button(shipped ? "Edit tracking" : "Mark shipped", () => this.shipForm(tr, o)));
    if (selling && shipped && !o.delivered_at) {
      actions.append(button("Delivered", (e) => this.call(e.currentTarget, o, "deliver", {}, `Order ${o.number} delivered.`)));
    }
    if (selling) actions.append(button("Refund", () => this.refundForm(tr, o)));
    if (selling && !shipped && (o.status === "paid" || o.status === "partially_refunded")) {
      actions.append(button("Cancel", (e) => {
        const left = o.total_cents - (o.refunded_cents || 0);
        if (!window.confirm(`Cancel order ${o.number}? ${formatMoney(left, o.currency)} goes back to ${o.name} and the units go back on sale.`)) return;
        this.call(e.currentTarget, o, "cancel", {}, `Order ${o.number} cancelled and refunded.`, newKey());
      }, "btn btn-danger btn-small"));
    }
    return tr;
  }

  /** An inline form under the order's row (one at a time). */
  openForm(tr, form) {
    for (const old of this.body.querySelectorAll("tr.order-form")) old.remove();
    const row = h("tr", { class: "order-form", dataset: { formFor: tr.dataset.orderId } }, h("td", { colspan: 7 }, form));
    tr.after(row);
    const first = form.querySelector("input");
    if (first) first.focus();
    return row;
  }

  shipForm(tr, o) {
    const carrier = h("input", { type: "text", name: "carrier", maxlength: 64, value: o.carrier || "", "aria-label": "Carrier", placeholder: "Carrier (UPS, DHL…)" });
    const tracking = h("input", { type: "text", name: "tracking_number", maxlength: 128, value: o.tracking_number || "",
      "aria-label": "Tracking number", placeholder: "Tracking number", spellcheck: "false" });
    const submit = h("button", { type: "submit", class: "btn btn-primary btn-small" }, "Save shipment");
    const form = h("form", { class: "inline-form", "aria-label": `Ship order ${o.number}` }, carrier, " ", tracking, " ", submit,
      " ", h("button", { type: "button", class: "btn btn-quiet btn-small", onclick: () => row.remove() }, "Close"));
    const row = this.openForm(tr, form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.call(submit, o, "fulfil", { carrier: carrier.value.trim() || null, tracking_number: tracking.value.trim() || null },
        `Order ${o.number} marked shipped.`);
    });
  }

  refundForm(tr, o) {
    const key = newKey(); // one per opened form: a double submit is one refund
    const inputs = o.lines.map((l) => {
      const left = l.quantity - (l.refunded_quantity || 0);
      return { line: l, left, input: h("input", { type: "number", min: 0, max: left, value: left, step: 1, class: "qty-input",
        name: `refund-${l.line_id}`, "aria-label": `Units of ${l.label} (${l.sku}) to refund` }) };
    });
    const restock = h("input", { type: "checkbox", name: "restock", checked: true });
    const submit = h("button", { type: "submit", class: "btn btn-danger btn-small" }, "Refund");
    const form = h("form", { class: "inline-form", "aria-label": `Refund order ${o.number}` },
      inputs.map(({ line, left, input }) => h("label", {}, input, ` of ${left} × ${line.label} (${line.sku}) `)),
      h("label", {}, restock, " Put the units back on sale "), submit,
      " ", h("button", { type: "button", class: "btn btn-quiet btn-small", onclick: () => row.remove() }, "Close"));
    const row = this.openForm(tr, form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const lines = inputs.map(({ line, input }) => ({ line_id: line.line_id, quantity: Number.parseInt(input.value, 10) || 0 }))
        .filter((l) => l.quantity > 0);
      if (!lines.length) {
        flash("Choose at least one unit to refund.");
        return;
      }
      const everything = inputs.every(({ left, input }) => (Number.parseInt(input.value, 10) || 0) >= left);
      const amount = everything ? o.total_cents - (o.refunded_cents || 0)
        : lines.reduce((sum, l) => sum + l.quantity * o.lines.find((x) => x.line_id === l.line_id).unit_price_cents, 0);
      const units = lines.reduce((sum, l) => sum + l.quantity, 0);
      const what = `${units} ${units === 1 ? "unit" : "units"}${restock.checked ? ", back on sale" : ", not back on sale"}`;
      if (!window.confirm(`Refund ${formatMoney(amount, o.currency)} to ${o.name} for order ${o.number} (${what})?`)) return;
      this.call(submit, o, "refund", { lines, restock: restock.checked }, `Order ${o.number}: ${formatMoney(amount, o.currency)} refunded.`, key);
    });
  }

  async call(button, o, verb, body, done, key = null) {
    const headers = key ? { "Idempotency-Key": key } : {};
    const answer = await act(button, () => this.panel.api(`/api/orders/${encodeURIComponent(o.order_id)}/${verb}`,
      { method: "POST", body, headers }), done);
    if (answer) await this.load();
  }

  /** Bulk "mark shipped": the chosen CSV goes up as it is; each row's outcome is listed. */
  async uploadShipments() {
    const file = this.csvInput.files && this.csvInput.files[0];
    if (!file) return;
    const answer = await act(null, async () => this.panel.api("/api/orders/shipments",
      { method: "POST", body: await file.text(), contentType: "text/csv; charset=utf-8" }));
    this.csvInput.value = "";
    if (!answer) return;
    const list = clear(this.csvResult);
    list.hidden = false;
    list.append(h("li", { class: "small" }, `${answer.shipped} marked shipped, ${answer.failed} not.`));
    for (const r of answer.results) {
      list.append(h("li", { class: `small ${r.ok ? "ok" : "error"}`, dataset: { row: r.row, ok: r.ok ? "yes" : "no" } },
        `Line ${r.row}, ${r.number || "(no number)"}: `, r.ok ? (STATUS_TEXT[r.status] || r.status) : r.message));
    }
    flash(`${answer.shipped} ${answer.shipped === 1 ? "order" : "orders"} marked shipped.`, answer.failed ? "error" : "ok");
    await this.load();
  }
}
