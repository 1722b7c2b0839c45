// The waiting rooms of this show's queue offers, inside the offer list: for each, the people in
// line, admitted, passes used and units sold (GET .../offers/{id}/queue, polled every 2 s while the
// offer has not ended, never per frame), "shuffled" once the line is ranked at starts_at, the seed's
// commitment with a link to the public audit, and the admission rate, which the host can change
// while it runs (PATCH .../offers/{id}).
//
// Each offer's box is one element kept for the life of the page and moved into the offer list
// each time it is redrawn, so a rate being typed survives the offer frames of the show.
//
// The show state's `offer` frames keep only the fields every page uses; the waiting room's own
// (mode, admit_per_minute, commitment, seed) are kept here, from every frame the panel applies.

import { ApiError } from "../common/api.js";
import { formatCount } from "../common/format.js";
import { copyText } from "./embed.js";
import { h } from "./dom.js";
import { problem } from "./feedback.js";
import { t } from "../common/i18n.js";

const FIGURES_EVERY_MS = 2000;
const ROOM_FIELDS = ["mode", "admit_per_minute", "commitment", "seed"];

/** The rate a queue offer gets when the host leaves it empty (live.offers.default_admit_per_minute). */
export function defaultAdmitPerMinute(units) {
  return Math.max(60, 2 * (Number.isFinite(units) ? units : 0));
}

export class Queue {
  constructor(panel) {
    this.panel = panel;
    this.rooms = new Map(); // offer id -> {mode, admit_per_minute, commitment, seed}
    this.figures = new Map(); // offer id -> the last answer of GET .../queue
    this.boxes = new Map(); // offer id -> its box element
    this.settled = new Set(); // ended offers whose final figures were fetched
    this._timer = null;
    this._busy = false;
    this._away = false;
    // Leaving the show screen stops the polling; coming back to it (the back button) restarts it.
    window.addEventListener("pagehide", () => this.stop());
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) this.resume();
    });
  }

  /** The waiting room fields of a frame the panel applies (a snapshot, an offer, an answer). */
  note(frame) {
    if (frame.type === "snapshot") for (const offer of frame.offers || []) this.keep(offer);
    else if (frame.type === "offer") this.keep(frame);
  }

  keep(offer) {
    if (offer.id === undefined) return;
    const room = { ...(this.rooms.get(offer.id) || {}) };
    for (const key of ROOM_FIELDS) if (key in offer) room[key] = offer[key];
    this.rooms.set(offer.id, room);
  }

  room(offer) {
    const room = this.rooms.get(offer.id) || {};
    const pick = (key) => (room[key] !== undefined ? room[key] : offer[key]);
    return { mode: pick("mode") || "open", admit_per_minute: pick("admit_per_minute"), commitment: pick("commitment"), seed: pick("seed") };
  }

  isQueue(offer) {
    return this.room(offer).mode === "queue";
  }

  // -- the box in the offer list ---------------------------------------------------------------

  /** The offer's waiting room box (the same element every time), brought up to date. */
  box(offer) {
    let box = this.boxes.get(offer.id);
    if (!box) {
      box = this.build(offer);
      this.boxes.set(offer.id, box);
    }
    this.update(offer, box);
    return box;
  }

  build(offer) {
    const rate = h("input", { type: "number", min: 1, step: 1, required: true, class: "rate-input", inputmode: "numeric",
      "aria-label": t("panel.queue.rate_label", { id: String(offer.id) }), dataset: { focusKey: `rate-${offer.id}` } });
    const note = h("span", { class: "small rate-note", role: "status", "aria-live": "polite" });
    const form = h("form", { class: "rate-form", autocomplete: "off", novalidate: true },
      h("label", { class: "small" }, t("panel.queue.admit"), rate, t("panel.queue.a_minute")),
      h("button", { type: "submit", class: "btn btn-small", dataset: { focusKey: `rate-set-${offer.id}` } }, t("panel.queue.set_rate")),
      note);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.setRate(offer.id, rate, form.querySelector("button"), note);
    });
    const figure = (key, label) => h("div", {}, h("dt", { title: label }, label), h("dd", { dataset: { figure: key } }, "–"));
    const commitment = h("code", { class: "commitment", tabindex: 0 });
    const copy = h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": t("panel.queue.copy_label", { id: String(offer.id) }) }, t("panel.queue.copy"));
    copy.addEventListener("click", async () => {
      const full = commitment.dataset.full || "";
      const copied = await copyText(full, null);
      note.textContent = copied ? t("panel.queue.copied") : t("panel.queue.commitment_is", { value: full });
    });
    return h("div", { class: "queue-box", dataset: { queueOf: offer.id } },
      h("div", { class: "queue-head small" },
        h("span", { class: "queue-state", dataset: { shuffled: "false" } }, ""),
        h("span", { class: "queue-rate muted" }, "")),
      h("dl", { class: "queue-figures" },
        figure("length", t("panel.queue.in_line")), figure("admitted", t("panel.queue.admitted")),
        figure("passes", t("panel.queue.passes_used")), figure("sold", t("panel.queue.sold"))),
      h("div", { class: "queue-proof small muted" },
        `${t("panel.queue.commitment")} `, commitment, " ", copy, " ",
        h("a", { href: `${this.panel.path}/offers/${offer.id}/audit`, target: "_blank", rel: "noopener", class: "audit-link" }, t("panel.queue.audit"))),
      form);
  }

  update(offer, box) {
    const room = this.room(offer);
    const figures = this.figures.get(offer.id);
    const rate = figures?.admit_per_minute ?? room.admit_per_minute;
    const shuffled = Boolean(figures?.ranked);
    const state = box.querySelector(".queue-state");
    state.dataset.shuffled = String(shuffled);
    state.textContent = shuffled ? t("panel.queue.shuffled") : offer.state === "scheduled" ? t("panel.queue.joining") : t("panel.queue.not_shuffled");
    box.querySelector(".queue-rate").textContent = rate ? t("panel.queue.admits", { n: formatCount(rate) }) : "";
    if (figures) {
      box.querySelector("[data-figure='length']").textContent = formatCount(figures.length);
      box.querySelector("[data-figure='admitted']").textContent = formatCount(Math.min(figures.admitted_upto, figures.length));
      box.querySelector("[data-figure='passes']").textContent = formatCount(figures.passes_used);
      box.querySelector("[data-figure='sold']").textContent = formatCount(figures.sold);
    }
    const commitment = box.querySelector(".commitment");
    const full = room.commitment || "";
    commitment.dataset.full = full;
    commitment.textContent = full ? `${full.slice(0, 12)}…` : "–";
    commitment.title = !full ? "" : room.seed ? t("panel.queue.seed_title", { hash: full, seed: room.seed })
      : t("panel.queue.seed_title_hidden", { hash: full });
    const input = box.querySelector(".rate-input");
    if (rate && !input.value && document.activeElement !== input) input.value = String(rate);
    const ended = offer.state === "ended";
    for (const control of box.querySelectorAll(".rate-form input, .rate-form button")) control.disabled = ended;
  }

  async setRate(offerId, input, button, note) {
    const n = Number(input.value);
    if (!Number.isInteger(n) || n < 1) {
      note.dataset.kind = "error";
      note.textContent = t("panel.queue.bad_rate");
      return;
    }
    button.disabled = true;
    note.dataset.kind = "";
    note.textContent = t("panel.queue.saving");
    try {
      const offer = await this.panel.api(`${this.panel.path}/offers/${offerId}`, { method: "PATCH", body: { admit_per_minute: n } });
      const figures = this.figures.get(offerId);
      if (figures) figures.admit_per_minute = offer.admit_per_minute;
      input.value = String(offer.admit_per_minute);
      this.panel.apply({ type: "offer", ...offer }); // the answer is the offer, as its frame will carry it
      note.dataset.kind = "ok";
      note.textContent = t("panel.queue.now_rate", { n: formatCount(offer.admit_per_minute) });
    } catch (err) {
      note.dataset.kind = "error";
      note.textContent = problem(err);
    } finally {
      button.disabled = false;
    }
  }

  // -- polling ---------------------------------------------------------------------------------

  /** Which queue offers to ask about: those not ended, and once more each one that just ended. */
  due() {
    const due = [];
    for (const offer of this.panel.state.offers.values()) {
      if (!this.isQueue(offer)) continue;
      if (offer.state !== "ended") due.push(offer);
      else if (this.boxes.has(offer.id) && !this.settled.has(offer.id)) due.push(offer);
    }
    return due;
  }

  /** The offer list was redrawn: start polling if a waiting room is open and nothing polls yet. */
  sync() {
    if (this._away || this._busy || this._timer !== null) return;
    if (this.due().length) this._timer = setTimeout(() => this.refresh(), 0);
  }

  stop() {
    this._away = true;
    clearTimeout(this._timer);
    this._timer = null;
  }

  resume() {
    this._away = false;
    this.sync();
  }

  async refresh() {
    this._timer = null;
    if (this._away || this._busy) return;
    this._busy = true;
    const { api, path } = this.panel;
    try {
      await Promise.all(this.due().map(async (offer) => {
        try {
          this.figures.set(offer.id, await api(`${path}/offers/${offer.id}/queue`));
          if (offer.state === "ended") this.settled.add(offer.id);
        } catch (err) {
          if (err instanceof ApiError && err.code === "network") return; // the next poll tries again
          this.settled.add(offer.id);
          if (err instanceof ApiError && (err.code === "not_found" || err.code === "not_a_queue")) this.rooms.set(offer.id, { mode: "open" });
          const note = this.boxes.get(offer.id)?.querySelector(".rate-note");
          if (note) {
            note.dataset.kind = "error";
            note.textContent = problem(err);
          }
        }
      }));
      for (const offer of this.panel.state.offers.values()) {
        const box = this.boxes.get(offer.id);
        if (box) this.update(offer, box);
      }
    } finally {
      this._busy = false;
      if (!this._away && this.due().length) this._timer = setTimeout(() => this.refresh(), FIGURES_EVERY_MS);
    }
  }
}
