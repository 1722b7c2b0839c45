// The sales chart: units per time bucket as bars, cumulative units as a line. Plain SVG.

import { formatClockTime } from "../common/format.js";
import { clear, svg } from "./dom.js";
import { t } from "../common/i18n.js";

const W = 600;
const H = 140;
const PAD = { top: 12, right: 8, bottom: 18, left: 8 };

export function drawSales(el, series) {
  clear(el);
  const points = (series && series.points) || [];
  const total = points.reduce((n, p) => n + p.units, 0);
  el.dataset.units = String(total);
  el.dataset.points = String(points.length);
  el.setAttribute("aria-label", total
    ? t("panel.chart.summary", { n: total, slots: t("panel.chart.slots", { n: points.length }) }) : t("panel.chart.none"));
  const start = series ? series.start : 0;
  const end = Math.max(series ? series.end : 1, start + (series ? series.bucket_ms : 1));
  const span = Math.max(end - start, 1);
  const x = (t) => PAD.left + ((t - start) / span) * (W - PAD.left - PAD.right);
  const base = H - PAD.bottom;
  el.append(svg("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: base, y2: base }));
  if (!total) {
    el.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, t("panel.chart.empty")));
    return;
  }
  const maxBar = Math.max(...points.map((p) => p.units), 1);
  const barW = Math.max(((series.bucket_ms / span) * (W - PAD.left - PAD.right)) - 1, 2);
  for (const p of points) {
    const height = (p.units / maxBar) * (base - PAD.top) * 0.6;
    el.append(svg("rect", { class: "bar", x: x(p.t), y: base - height, width: barW, height, "data-units": p.units }));
  }
  let running = 0;
  const path = [`M ${x(start)} ${base}`];
  for (const p of points) {
    const y0 = base - (running / total) * (base - PAD.top);
    running += p.units;
    const y1 = base - (running / total) * (base - PAD.top);
    const t = x(Math.min(p.t + series.bucket_ms, end));
    path.push(`L ${x(p.t)} ${y0}`, `L ${t} ${y1}`);
  }
  path.push(`L ${x(end)} ${PAD.top}`);
  el.append(svg("path", { class: "line", d: path.join(" ") }));
  el.append(svg("text", { x: PAD.left + 2, y: H - 4 }, formatClockTime(start)));
  el.append(svg("text", { x: W - PAD.right - 2, y: H - 4, "text-anchor": "end" }, formatClockTime(end)));
  el.append(svg("text", { x: W - PAD.right - 2, y: PAD.top + 2, "text-anchor": "end", "dominant-baseline": "hanging", class: "total" },
    t("panel.chart.total", { n: total })));
}
