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
import { t } from "../common/i18n.js";

const STATUS_TEXT = {
  paid: () => t("panel.orders.status.paid"),
  fulfilled: () => t("panel.orders.status.fulfilled"),
  delivered: () => t("panel.orders.status.delivered"),
  partially_refunded: () => t("panel.orders.status.partially_refunded"),
  refunded: () => t("panel.orders.status.refunded"),
  cancelled: () => t("panel.orders.status.cancelled"),
};
const statusText = (status) => (STATUS_TEXT[status] ? STATUS_TEXT[status]() : status);
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
      if (!orders.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted small" }, t("panel.orders.none"))));
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
    const refunded = o.refunded_cents ? h("div", { class: "small muted" }, t("panel.orders.refunded_amount", { amount: formatMoney(o.refunded_cents, o.currency) })) : null;
    const actions = h("td", { class: "order-actions" });
    const tr = h("tr", { dataset: { orderId: o.order_id, status: o.status } },
      h("td", {}, h("a", { href: o.receipt_url, target: "_blank", rel: "noopener" }, o.number)),
      h("td", {}, formatClockTime(o.created_at)),
      h("td", {}, o.name),
      h("td", {}, o.lines.map((l) => `${l.quantity} × ${l.label} (${l.sku})`).join(", ")),
      h("td", {}, formatMoney(o.total_cents, o.currency)),
      h("td", {}, h("span", { class: "badge order-status", "data-status": o.status }, statusText(o.status)), tracking, refunded),
      actions);
    const selling = SELLING.includes(o.status);
    const shipped = o.fulfilled_at !== null && o.fulfilled_at !== undefined;
    const button = (text, onclick, cls = "btn btn-quiet btn-small") => h("button", { type: "button", class: cls, onclick }, text);
    if (selling && !o.delivered_at) actions.append(button(shipped ? t("panel.orders.edit_tracking") : t("panel.orders.mark_shipped"), () => this.shipForm(tr, o)));
    if (selling && shipped && !o.delivered_at) {
      actions.append(button(t("panel.orders.delivered"), (e) => this.call(e.currentTarget, o, "deliver", {}, t("panel.orders.delivered_flash", { number: o.number }))));
    }
    if (selling) actions.append(button(t("panel.orders.refund"), () => this.refundForm(tr, o)));
    if (this.panel.inbox) actions.append(this.panel.inbox.writeButton({ order_id: o.order_id }, t("inbox.what_order", { number: o.number }))); // docs/threads.md
    if (selling && !shipped && (o.status === "paid" || o.status === "partially_refunded")) {
      actions.append(button(t("panel.orders.cancel"), (e) => {
        const left = o.total_cents - (o.refunded_cents || 0);
        if (!window.confirm(t("panel.orders.cancel_confirm", { number: o.number, amount: formatMoney(left, o.currency), name: o.name }))) return;
        this.call(e.currentTarget, o, "cancel", {}, t("panel.orders.cancelled_flash", { number: o.number }), newKey());
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
    const carrier = h("input", { type: "text", name: "carrier", maxlength: 64, value: o.carrier || "", "aria-label": t("panel.orders.carrier"), placeholder: t("panel.orders.carrier_placeholder") });
    const tracking = h("input", { type: "text", name: "tracking_number", maxlength: 128, value: o.tracking_number || "",
      "aria-label": t("panel.orders.tracking_number"), placeholder: t("panel.orders.tracking_number"), spellcheck: "false" });
    const submit = h("button", { type: "submit", class: "btn btn-primary btn-small" }, t("panel.orders.save_shipment"));
    const form = h("form", { class: "inline-form", "aria-label": t("panel.orders.ship_label", { number: o.number }) }, carrier, " ", tracking, " ", submit,
      " ", h("button", { type: "button", class: "btn btn-quiet btn-small", onclick: () => row.remove() }, t("panel.orders.close")));
    const row = this.openForm(tr, form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.call(submit, o, "fulfil", { carrier: carrier.value.trim() || null, tracking_number: tracking.value.trim() || null },
        t("panel.orders.shipped_flash", { number: o.number }));
    });
  }

  refundForm(tr, o) {
    const key = newKey(); // one per opened form: a double submit is one refund
    const inputs = o.lines.map((l) => {
      const left = l.quantity - (l.refunded_quantity || 0);
      return { line: l, left, input: h("input", { type: "number", min: 0, max: left, value: left, step: 1, class: "qty-input",
        name: `refund-${l.line_id}`, "aria-label": t("panel.orders.units_label", { size: l.label, sku: l.sku }) }) };
    });
    const restock = h("input", { type: "checkbox", name: "restock", checked: true });
    const submit = h("button", { type: "submit", class: "btn btn-danger btn-small" }, t("panel.orders.refund"));
    const form = h("form", { class: "inline-form", "aria-label": t("panel.orders.refund_label", { number: o.number }) },
      inputs.map(({ line, left, input }) => h("label", {}, input, t("panel.orders.of_left", { left, size: line.label, sku: line.sku }))),
      h("label", {}, restock, t("panel.orders.restock")), submit,
      " ", h("button", { type: "button", class: "btn btn-quiet btn-small", onclick: () => row.remove() }, t("panel.orders.close")));
    const row = this.openForm(tr, form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const lines = inputs.map(({ line, input }) => ({ line_id: line.line_id, quantity: Number.parseInt(input.value, 10) || 0 }))
        .filter((l) => l.quantity > 0);
      if (!lines.length) {
        flash(t("panel.orders.choose_unit"));
        return;
      }
      const everything = inputs.every(({ left, input }) => (Number.parseInt(input.value, 10) || 0) >= left);
      const amount = everything ? o.total_cents - (o.refunded_cents || 0)
        : lines.reduce((sum, l) => sum + l.quantity * o.lines.find((x) => x.line_id === l.line_id).unit_price_cents, 0);
      const units = lines.reduce((sum, l) => sum + l.quantity, 0);
      const what = t(restock.checked ? "panel.orders.units_back" : "panel.orders.units_not_back", { n: units });
      if (!window.confirm(t("panel.orders.refund_confirm", { amount: formatMoney(amount, o.currency), name: o.name, number: o.number, what }))) return;
      this.call(submit, o, "refund", { lines, restock: restock.checked }, t("panel.orders.refunded_flash", { number: o.number, amount: formatMoney(amount, o.currency) }), key);
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
    list.append(h("li", { class: "small" }, t("panel.orders.shipments_summary", { shipped: answer.shipped, failed: answer.failed })));
    for (const r of answer.results) {
      list.append(h("li", { class: `small ${r.ok ? "ok" : "error"}`, dataset: { row: r.row, ok: r.ok ? "yes" : "no" } },
        t("panel.orders.line", { row: r.row, number: r.number || t("panel.orders.no_number") }), r.ok ? statusText(r.status) : r.message));
    }
    flash(t("panel.orders.shipped_count", { n: answer.shipped }), answer.failed ? "error" : "ok");
    await this.load();
  }
}
