// Offers: the composer (product, price, duration, quantity, per-customer limit, hold time, and the
// mode: first come, which starts at once, or a waiting room, which starts in a few minutes and
// lets people in at a rate), "start the last offer again" (the R shortcut), and the list of this
// show's offers with their countdowns and "End now". An ended offer stays in the list for a while
// so the host sees what just happened. A queue offer's waiting room figures in the list are
// queue.js's.

import { ApiError } from "../common/api.js";
import { formatCountdown, formatMoney, moneyInput, parseMoney } from "../common/format.js";
import { $, clear, flash, h, keepingFocus } from "./dom.js";
import { act, problem } from "./feedback.js";
import { defaultAdmitPerMinute } from "./queue.js";
import { t } from "../common/i18n.js";

const ENDED_SHOWN_MS = 15000;
const QUEUE_START_IN_MIN = 5; // a waiting room needs time for people to join before it starts
const MODE_HINTS = {
  open: () => t("panel.offers.hint_open"),
  queue: () => t("panel.offers.hint_queue"),
};

const TEXT = {
  endedUnsold: (unsold, of) => t("panel.offers.ended_unsold", { unsold, of }),
  get ended() { return t("panel.offers.ended"); },
  get showEnded() { return t("panel.offers.show_ended"); },
};

/** An offer's terms. An ended offer's `remaining` is 0 by definition (nothing more sells at its
 * price), so "0 of 4 left" would hide 3 unsold units: the panel says what was left when it ended,
 * as last seen while it ran (`lastLeft`), or only "ended". */
function terms(o, lastLeft) {
  const rules = t("panel.offers.rules", { limit: o.per_customer_limit, hold: o.hold_s });
  if (o.state === "ended") {
    const head = Number.isInteger(lastLeft) && o.quantity ? TEXT.endedUnsold(lastLeft, o.quantity) : TEXT.ended;
    return `${head} · ${rules}`;
  }
  const all = t("panel.offers.all");
  return t("panel.offers.left", { remaining: o.remaining ?? all, quantity: o.quantity ?? all, rules });
}

export class Offers {
  constructor(panel) {
    this.panel = panel;
    this.list = $("#offers");
    this.form = $("#offer-form");
    this.product = $("#offer-product");
    this.price = $("#offer-price");
    this.startButton = $("#offer-start");
    this.mode = $("#offer-mode");
    this.modeHint = $("#offer-mode-hint");
    this.queueFields = $("#offer-queue-fields");
    this.admit = $("#offer-admit");
    this.startIn = $("#offer-start-in");
    this.quantity = $("#offer-quantity");
    this.error = $("#offer-error");
    // The last offer started here, kept per tab so R still repeats it after a reload.
    this.storageKey = `livedrop.lastOffer.${panel.slug}`;
    this.last = JSON.parse(sessionStorage.getItem(this.storageKey) || "null");
    this.leftWhileLive = new Map(); // offer id -> units left the last time it was seen running
    this.endedNote = $("#offer-ended-note");

    this.product.addEventListener("change", () => {
      this.fillPrice(true);
      this.showDefaultRate();
    });
    this.quantity.addEventListener("input", () => this.showDefaultRate());
    this.mode.addEventListener("change", () => this.showMode());
    this.showMode();
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
    this.showDefaultRate();
  }

  /** The mode's hint, and the waiting room's fields only for a waiting room. */
  showMode() {
    const queue = this.mode.value === "queue";
    this.modeHint.textContent = MODE_HINTS[this.mode.value] ? MODE_HINTS[this.mode.value]() : "";
    this.queueFields.hidden = !queue;
    this.admit.disabled = !queue;
    this.startIn.disabled = !queue;
    if (queue && !this.startIn.value) this.startIn.value = String(QUEUE_START_IN_MIN);
    this.showDefaultRate();
  }

  /** The rate the server picks when the field is left empty: twice the units, at least 60. */
  showDefaultRate() {
    const p = this.selected();
    const quantity = Number.parseInt(this.quantity.value, 10);
    let units = Number.isInteger(quantity) && quantity > 0 ? quantity : null;
    if (units === null && p) {
      const { stock } = this.panel.state;
      units = p.variants.reduce((sum, v) => sum + (Number.isInteger(stock[v.sku]) ? stock[v.sku] : v.stock), 0);
    }
    this.admit.placeholder = t("panel.offers.admit_placeholder", { n: defaultAdmitPerMinute(units ?? 0) });
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
    if (!p) return flash(t("panel.offers.choose_product"));
    const price = parseMoney(this.price.value, p.currency);
    if (price === null) return flash(t("panel.offers.bad_price"));
    const spec = {
      product_id: p.id,
      price_cents: price,
      duration_s: Number.parseInt($("#offer-duration").value, 10),
      per_customer_limit: Number.parseInt($("#offer-limit").value, 10),
      hold_s: Number.parseInt($("#offer-hold").value, 10),
    };
    const quantity = this.quantity.value.trim();
    if (quantity) spec.quantity = Number.parseInt(quantity, 10);
    if (this.mode.value === "queue") {
      spec.mode = "queue";
      const admit = this.admit.value.trim();
      if (admit) {
        const n = Number(admit);
        if (!Number.isInteger(n) || n < 1) return this.refuse(t("panel.offers.bad_admit"));
        spec.admit_per_minute = n;
      }
      const minutes = Number(this.startIn.value);
      if (!(minutes > 0)) return this.refuse(t("panel.offers.future"));
      spec.start_in_ms = Math.round(minutes * 60_000); // not sent: starts_at is counted from the moment it is sent
    }
    return this.start(spec, this.startButton);
  }

  refuse(message) {
    this.error.textContent = message;
    return undefined;
  }

  /** The body of POST .../offers for a composed offer: a start "in n minutes" becomes starts_at
   * in the server's clock, now (so "start the last offer again" starts as far ahead again). */
  body(spec) {
    const { start_in_ms: startInMs, ...body } = spec;
    if (startInMs) body.starts_at = Math.round(this.panel.clock.now() + startInMs);
    return body;
  }

  /** Starts a composed offer; a refusal is written next to the form (and flashed too when the R
   * shortcut started it, as the form may be scrolled out of sight then). */
  async start(spec, button, { shortcut = false } = {}) {
    const { api, path } = this.panel;
    if (button) button.disabled = true;
    this.error.textContent = "";
    try {
      const offer = await api(`${path}/offers`, { method: "POST", body: this.body(spec) });
      this.last = spec;
      sessionStorage.setItem(this.storageKey, JSON.stringify(spec));
      this.panel.apply({ type: "offer", ...offer }); // the answer is the offer, as its frame will carry it
      flash(offer.mode === "queue" ? t("panel.offers.room_open") : t("panel.offers.started"), "ok", 2500);
    } catch (err) {
      // The server's sentence names the field (and is what the host must change), next to the form.
      this.error.textContent = problem(err);
      if (shortcut || (err instanceof ApiError && err.code === "network")) flash(problem(err));
    } finally {
      if (button) button.disabled = false;
    }
  }

  /** After End: the composer is shut (Start offer would only be refused). */
  renderEnded() {
    const ended = this.panel.ended ? this.panel.ended() : false;
    for (const field of this.form.elements) field.disabled = ended;
    if (!ended) this.showMode(); // the waiting room's fields stay off outside that mode
    if (this.endedNote) this.endedNote.hidden = !ended;
  }

  /** Remembers what each running offer had left (see terms()). */
  noteLeft() {
    for (const o of this.panel.state.offers.values()) {
      if (o.state !== "ended" && Number.isInteger(o.remaining)) this.leftWhileLive.set(o.id, o.remaining);
    }
  }

  repeatLast() {
    if (this.panel.ended && this.panel.ended()) return flash(TEXT.showEnded);
    if (!this.last) return flash(t("panel.offers.none_yet"));
    return this.start({ ...this.last }, this.startButton, { shortcut: true });
  }

  // -- the list ----------------------------------------------------------------------------------

  render() {
    keepingFocus(this.list, () => this.draw());
  }

  draw() {
    const { clock, products, state } = this.panel;
    this.noteLeft();
    const now = clock.now();
    clear(this.list);
    const shown = [...state.offers.values()]
      .filter((o) => o.state !== "ended" || now - o.ends_at < ENDED_SHOWN_MS)
      .sort((a, b) => b.id - a.id);
    if (!shown.length) this.list.append(h("li", { class: "muted small" }, t("panel.offers.none_running")));
    const { queue } = this.panel;
    for (const o of shown) {
      const product = products.find((p) => p.id === o.product_id);
      const currency = o.currency || product?.currency || "USD";
      const waiting = queue.isQueue(o);
      this.list.append(h("li", { dataset: { offerId: o.id, state: o.state, mode: waiting ? "queue" : "open" } },
        h("div", { class: "grow" },
          h("strong", {}, o.title || product?.title || t("panel.offers.product", { id: String(o.product_id) })), " ",
          h("span", {}, formatMoney(o.price_cents, currency)), " ",
          h("span", { class: `mode-tag mode-${waiting ? "queue" : "open"}` }, waiting ? t("panel.offers.mode_queue") : t("panel.offers.mode_open")),
          h("div", { class: "muted small", dataset: { remainingOf: o.id } }, terms(o, this.leftWhileLive.get(o.id)))),
        h("span", { class: "countdown", dataset: { endsAt: o.ends_at, startsAt: o.starts_at, state: o.state }, "aria-label": t("panel.offers.time_left") }, ""),
        o.state !== "ended"
          ? h("button", { type: "button", class: "btn btn-small btn-danger", dataset: { focusKey: `end-${o.id}` },
            onclick: (e) => this.end(o, e.currentTarget) }, t("panel.offers.end_now"))
          : h("span", { class: "muted small" }, t("panel.offers.ended")),
        waiting ? queue.box(o) : null));
    }
    this.tick(now);
    queue.sync();
  }

  async end(offer, button) {
    const { api, clock, path } = this.panel;
    await act(button, async () => {
      await api(`${path}/offers/${offer.id}`, { method: "DELETE" });
      // Ended now, not at its planned end; the server's `offer` frame says the same moments later.
      this.panel.apply({ type: "offer", ...offer, state: "ended", ends_at: Math.min(offer.ends_at, clock.now()) });
    }, t("panel.offers.ended_flash"));
  }

  /** A stock frame moved an offer's units left (its cap across sizes): the numbers, not the list. */
  showRemaining() {
    this.noteLeft();
    for (const line of this.list.querySelectorAll("[data-remaining-of]")) {
      const offer = this.panel.state.offers.get(Number(line.dataset.remainingOf));
      if (offer) line.textContent = terms(offer, this.leftWhileLive.get(offer.id));
    }
  }

  /** Countdowns, in the server's clock (so the host sees the second the viewers see). */
  tick(now) {
    for (const el of this.list.querySelectorAll(".countdown")) {
      if (el.dataset.state === "ended") el.textContent = "0:00";
      else if (now < Number(el.dataset.startsAt)) el.textContent = t("panel.offers.starts_in", { time: formatCountdown(Number(el.dataset.startsAt) - now) });
      else el.textContent = formatCountdown(Number(el.dataset.endsAt) - now);
    }
  }
}
