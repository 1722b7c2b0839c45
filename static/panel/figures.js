// Live figures: viewers now and at peak (from the socket), and the books (live holds, units sold,
// revenue, conversion, sell-through per size, the sales chart) from GET /api/shows/{slug}/stats,
// which only the server can count. That is polled every 2 s, and fetched again right after a
// `sold` frame, so a sale shows within a second or two without polling faster.

import { ApiError } from "../common/api.js";
import { formatMoney, formatPercent } from "../common/format.js";
import { drawSales } from "./chart.js";
import { $, clear, flash, h } from "./dom.js";
import { problem } from "./feedback.js";
import { t } from "../common/i18n.js";

const STATS_EVERY_MS = 2000;
const SOONEST_AFTER_SALE_MS = 1000; // a burst of sales costs one fetch a second, not one per sale

export class Figures {
  constructor(panel) {
    this.panel = panel;
    this.stats = null; // the last answer of /stats
    this.peak = 0;
    this._timer = null;
    this._busy = false;
    this._fetchedAt = 0;
    this.sizes = $("#sizes");
  }

  render() {
    const { products, state } = this.panel;
    const s = this.stats;
    this.peak = Math.max(this.peak, state.viewers, s ? s.peak_viewers : 0);
    $("#fig-viewers").textContent = String(state.viewers);
    $("#fig-peak").textContent = String(this.peak);
    if (!s) return;
    $("#fig-holds").textContent = String(s.live_holds);
    $("#fig-units").textContent = String(s.units_sold);
    const revenue = Object.entries(s.revenue);
    const revenueText = revenue.length ? revenue.map(([c, cents]) => formatMoney(cents, c)).join(" + ") : formatMoney(0, products[0]?.currency || "USD");
    $("#fig-revenue").textContent = revenueText;
    $("#fig-revenue").title = revenueText;
    // Buyers over the unique viewers who opened the page (the server counts both; never above 100 %).
    $("#fig-conversion").textContent = formatPercent(s.conversion ?? null);
    $("#fig-conversion").title = t("panel.figures.conversion_title", {
      buyers: t("panel.figures.buyers", { n: s.buyers }), peak: t("panel.figures.unique_viewers", { n: s.unique_viewers ?? 0 }),
    });
    this.drawSizes(s.sizes);
    drawSales($("#sales-chart"), s.sales_over_time);
    this.panel.orders.update(s.orders);
  }

  drawSizes(sizes) {
    const { stock } = this.panel.state;
    const body = clear(this.sizes);
    if (!sizes.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted small" }, t("panel.figures.no_sizes"))));
    let product = null;
    for (const size of sizes) {
      const share = size.sell_through ?? 0;
      if (size.product_id !== product) {
        product = size.product_id;
        body.append(h("tr", { class: "group" }, h("th", { colspan: 5, scope: "colgroup", title: size.title }, size.title)));
      }
      body.append(h("tr", { dataset: { sku: size.sku } },
        h("td", { title: size.sku }, size.label, " ", h("span", { class: "muted small" }, size.sku)),
        h("td", {}, String(size.sold)),
        h("td", {}, String(size.held)),
        h("td", { class: "left", dataset: { sku: size.sku } }, String(stock[size.sku] ?? size.available)),
        h("td", {}, h("div", { class: "meter" },
          h("span", { class: "track", role: "img", "aria-label": t("panel.figures.sold_share", { percent: formatPercent(size.sell_through) }) },
            h("span", { class: "fill", style: { width: `${Math.min(100, share * 100)}%` } })),
          h("span", { class: "small" }, formatPercent(size.sell_through))))));
    }
  }

  /** The socket's stock is newer than the last /stats: the "left" column follows it. */
  showStock() {
    const { stock } = this.panel.state;
    for (const cell of this.sizes.querySelectorAll("td.left[data-sku]")) {
      const left = stock[cell.dataset.sku];
      if (left !== undefined) cell.textContent = String(left);
    }
  }

  /** A sale was announced: fetch the books now, or as soon as a second has passed since the last fetch. */
  soon() {
    if (this._busy) return;
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.refresh(), Math.max(0, this._fetchedAt + SOONEST_AFTER_SALE_MS - Date.now()));
  }

  async refresh() {
    clearTimeout(this._timer);
    if (this._busy) return;
    this._busy = true;
    this._fetchedAt = Date.now();
    try {
      this.stats = await this.panel.api(`${this.panel.path}/stats`);
      this.render();
    } catch (err) {
      // Unreachable: the next poll tries again, and the connection line already says so.
      if (!(err instanceof ApiError && err.code === "network")) flash(problem(err));
    } finally {
      this._busy = false;
      this._timer = setTimeout(() => this.refresh(), STATS_EVERY_MS);
    }
  }
}
