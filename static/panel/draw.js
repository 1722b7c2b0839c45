// The show's draws and giveaways on the panel (docs/draws.md): run a giveaway of the pinned
// product, and for each draw its entries per size while open (GET .../entries, every 2 s), a
// void with a reason before the draw, "Draw now", and after it the winners and their claims.

import { $, clear, flash, h } from "./dom.js";
import { act } from "./feedback.js";
import { t } from "../common/i18n.js";

const WINNER_STATUS = {
  won: () => t("panel.draw.status_won"),
  claimed: () => t("panel.draw.status_claimed"),
  lapsed: () => t("panel.draw.status_lapsed"),
};

const TEXT = {
  get giveaway() { return t("panel.draw.giveaway"); },
  get draw() { return t("panel.draw.draw"); },
  get noPinned() { return t("panel.draw.no_pinned"); },
  get started() { return t("panel.draw.started"); },
  entries: (n) => t("panel.draw.entries", { n }),
  perSize: (sku, n) => t("panel.draw.per_size", { sku, n }),
  excluded: (n) => t("panel.draw.excluded", { n }),
  get drawNow() { return t("panel.draw.draw_now"); },
  get drawn() { return t("panel.draw.drawn"); },
  get voidLabel() { return t("panel.draw.void_label"); },
  get reasonLabel() { return t("panel.draw.reason_label"); },
  get voidButton() { return t("panel.draw.void_button"); },
  get voided() { return t("panel.draw.voided"); },
  winner: (w) => t("panel.draw.winner", { rank: String(w.rank), id: w.entry_id, sku: w.sku,
    status: WINNER_STATUS[w.status] ? WINNER_STATUS[w.status]() : w.status }),
  get audit() { return t("panel.draw.audit"); },
};
const FIGURES_EVERY_MS = 2000;

export class DrawPanel {
  constructor(panel) {
    this.panel = panel;
    this.list = $("#draws");
    this.figures = new Map(); // offer id -> GET .../entries
    this._timer = null;
    $("#giveaway-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.runGiveaway($("#giveaway-start"));
    });
  }

  draws() {
    return [...this.panel.state.offers.values()].filter((o) => o.mode === "draw");
  }

  async runGiveaway(button) {
    const pinned = this.panel.state.pinned;
    if (!pinned) { flash(TEXT.noPinned); return; }
    await act(button, () => this.panel.api(`${this.panel.path}/offers`, { method: "POST", body: {
      product_id: pinned.id, price_cents: 0, mode: "draw", giveaway: true,
      duration_s: Number($("#giveaway-seconds").value), buyers_only: $("#giveaway-buyers").checked,
    } }).then((offer) => this.panel.apply({ type: "offer", ...offer })), TEXT.started);
  }

  render() {
    const draws = this.draws();
    clear(this.list);
    for (const offer of draws) this.list.append(this.box(offer));
    if (draws.length && !this._timer) this.poll();
  }

  box(offer) {
    const figures = this.figures.get(offer.id);
    const base = `${this.panel.path}/offers/${offer.id}`;
    const idInput = h("input", { "aria-label": TEXT.voidLabel, placeholder: "de_…", maxlength: 24, class: "draw-void-id" });
    const reason = h("input", { "aria-label": TEXT.reasonLabel, value: "bot", maxlength: 32, class: "draw-void-reason" });
    const drawn = figures && figures.drawn_at;
    const voidForm = h("form", { class: "draw-void", hidden: Boolean(drawn), onsubmit: (event) => {
      event.preventDefault();
      act(event.submitter, () => this.panel.api(`${base}/entries/${encodeURIComponent(idInput.value.trim())}/void`,
        { method: "POST", body: { reason: reason.value.trim() } }).then(() => this.refresh(offer.id)), TEXT.voided);
    } }, idInput, reason, h("button", { type: "submit", class: "btn btn-quiet" }, TEXT.voidButton));
    const drawButton = h("button", { type: "button", class: "btn", hidden: Boolean(drawn),
      onclick: (event) => act(event.currentTarget, () => this.panel.api(`${base}/draw`, { method: "POST" })
        .then((answer) => { this.figures.set(offer.id, answer); this.render(); }), TEXT.drawn) }, TEXT.drawNow);
    const sizes = figures ? Object.entries(figures.entries).map(([sku, n]) => TEXT.perSize(sku, n)).join(" · ") : "";
    const total = figures ? Object.values(figures.entries).reduce((a, b) => a + b, 0) : 0;
    return h("li", { class: "draw-box", dataset: { offerId: offer.id } },
      h("strong", {}, `${offer.giveaway ? TEXT.giveaway : TEXT.draw} · ${offer.title || ""}`), " ",
      h("span", { class: "draw-count" }, figures ? `${TEXT.entries(total)} (${sizes})${figures.excluded ? `, ${TEXT.excluded(figures.excluded)}` : ""}` : ""),
      " ", h("a", { href: `/offers/${offer.id}/verify`, target: "_blank", rel: "noopener" }, TEXT.audit),
      drawButton, voidForm,
      h("ol", { class: "draw-winners" }, ...(figures ? figures.winners.map((w) => h("li", {}, TEXT.winner(w))) : [])));
  }

  async refresh(offerId) {
    try {
      this.figures.set(offerId, await this.panel.api(`${this.panel.path}/offers/${offerId}/entries`));
    } catch {
      // the next poll tries again
    }
  }

  async poll() {
    this._timer = setTimeout(async () => {
      this._timer = null;
      const draws = this.draws();
      await Promise.all(draws.map((o) => this.refresh(o.id)));
      this.render();
    }, FIGURES_EVERY_MS);
  }
}
