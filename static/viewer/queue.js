// The waiting room of a "queue" drop, in the product card. Before the drop starts a buyer joins the
// line (everyone who joined before starts_at gets a random place: joining early does not put anyone
// ahead); from starts_at their place is known, and it moves live with the room's `queue` frames
// (place = rank - admitted_upto, worked out here: no request per frame). When the line reaches
// them they get a signed pass, Buy appears with the pass's countdown, and the hold carries the pass
// (buying.js asks passFor). Late joiners can still join: they go to the back.
//
// The buyer's place (GET .../queue/me) is asked for only when something may have changed it
// without a frame saying so: the page loads or comes back (visible again, the socket reconnected),
// the line is drawn, this place is let in, a pass runs out, or a hold is refused for its pass.

import { api, ApiError, refusalText } from "../common/api.js";
import { solvePow } from "../common/pow.js";
import { byId, setText, show } from "./dom.js";
import { QUEUE_TEXT as T } from "./queue_text.js";

const AUTO_FETCH_GAP_MS = 2000; // one automatic GET .../queue/me per line at most this often

export class Queue {
  constructor(viewer) {
    this.viewer = viewer;
    this.root = byId("queue");
    this.status = byId("queue-status");
    this.timer = byId("queue-timer");
    this.detail = byId("queue-detail");
    this.meta = byId("queue-meta");
    this.drawNumber = byId("queue-draw");
    this.entry = byId("queue-entry");
    this.audit = byId("queue-audit");
    this.error = byId("queue-error");
    this.joinButton = byId("queue-join");
    setText(this.audit, T.checkTheDraw);

    this.places = new Map(); // offer id -> the buyer's place (the /me answer); null: not in this line
    this.admittedUpto = new Map(); // offer id -> how far the line is let in (frames and /me; never falls)
    this.bought = new Map(); // offer id -> units this buyer has paid for at it (their orders)
    this._orders = new Set(); // order ids counted in `bought`
    this.joining = false;
    this.solving = false; // working out the proof of work the server asked for
    this.errorText = ""; // what the last join ran into, until the next try
    this._seq = 0; // every /me and join gets one; an answer older than the one applied is dropped
    this._applied = new Map(); // offer id -> seq of the answer applied last
    this._fetches = new Map(); // offer id -> the /me in flight
    this._lastAuto = new Map(); // offer id -> Date.now() of the last automatic /me
    this._loadFailed = new Set(); // offer ids whose first /me failed: Join shows (joining is idempotent)
    this._offer = null; // the queue offer the card shows now
    this._shown = null; // {id, state} painted last: for announcements and the ticks' redraws
    this._context = { hold: null, soldOut: false, ended: false };

    this.joinButton.addEventListener("click", () => this.join());
  }

  // -- what the card asks ------------------------------------------------------------------------

  /** The queue offer the pinned product's card answers to at `now`: a live one, or one to come
   * (before a queue offer the product is not on sale at all). Null when the product sells as usual. */
  offerFor(pinned, now) {
    if (!pinned) return null;
    const { state } = this.viewer;
    const live = state.liveOffer(now);
    if (live) return live.mode === "queue" ? live : null;
    let next = null;
    for (const offer of state.offers.values()) {
      if (offer.mode !== "queue" || offer.product_id !== pinned.id || offer.state === "ended" || offer.ends_at <= now) continue;
      if (!next || offer.starts_at < next.starts_at) next = offer;
    }
    return next;
  }

  /** Null: no waiting room here, sell as usual. Otherwise the offer and whether Buy may show. */
  gate(pinned, now) {
    const offer = this.offerFor(pinned, now);
    return offer ? { offer, canBuy: this._state(offer, now) === "admitted" } : null;
  }

  /** The pass a hold on `sku` must carry (the pinned product's queue offer), or null. Sent even if
   * this device's clock thinks it ran out: the server's answer is the one that counts. */
  passFor(sku) {
    const { state, clock } = this.viewer;
    const pinned = state.pinned;
    if (!pinned || !pinned.variants.some((v) => v.sku === sku)) return null;
    const offer = this.offerFor(pinned, clock.now());
    return (offer && this.places.get(offer.id)?.pass) || null;
  }

  // -- the buyer's place -----------------------------------------------------------------------------

  async join(attempt = 0) {
    const offer = this._offer;
    if (!offer || this.joining) return;
    const { viewer } = this;
    this.joining = true;
    this.errorText = "";
    this._changed();
    const seq = ++this._seq;
    let entry = null;
    try {
      await viewer.ensureBuyer();
      try {
        entry = await api(this._url(offer.id), { method: "POST", body: {} });
      } catch (err) {
        // The server asks for proof of work (LIVEDROP_QUEUE_POW > 0): solve its challenge (a second
        // or two on a phone, in Web Workers) and join with the answer. Off, it costs nothing.
        if (!(err instanceof ApiError && err.code === "pow_required")) throw err;
        this.solving = true;
        this._changed();
        try {
          const pow = await solvePow(this._url(offer.id) + "/challenge");
          entry = await api(this._url(offer.id), { method: "POST", body: pow ? { pow } : {} });
        } finally {
          this.solving = false;
        }
      }
    } catch (err) {
      this.joining = false;
      if (err instanceof ApiError && err.code === "unauthorized" && attempt < 1) {
        viewer.buyer.id = null; // the cookie no longer holds (the server's key changed): a new buyer
        this.join(attempt + 1);
        return;
      }
      this.errorText = refusalText(err, T.joinFailed);
      viewer.announce(this.errorText);
      this._changed();
      return;
    }
    this.joining = false;
    this._apply(offer.id, seq, {
      entry_id: entry.entry_id, offer_id: offer.id, joined_at: entry.joined_at, rank: null, ahead: null, admitted: false,
      admitted_upto: 0, length: null, pass: null, pass_expires_at: null, expired: false, eta_s: null,
    });
    if (!entry.late) viewer.announce(T.joinedSpoken);
    this._changed();
    this.refresh(offer.id, { force: true }); // a late joiner's place is known at once
  }

  /** GET .../queue/me for one line. `force`: a new request even if one is on its way. */
  refresh(offerId, { force = false } = {}) {
    if (!this.viewer.buyer.id || this.joining) return Promise.resolve();
    if (!force && this._fetches.has(offerId)) return this._fetches.get(offerId);
    const seq = ++this._seq;
    const fetching = api(`${this._url(offerId)}/me`, { cache: "no-store" })
      .then((place) => this._apply(offerId, seq, place))
      .catch((err) => {
        if (err instanceof ApiError && err.code === "not_in_queue") {
          this._apply(offerId, seq, null);
        } else if (err instanceof ApiError && err.code === "unauthorized") {
          this.viewer.buyer.id = null; // joining makes a new buyer
          this._apply(offerId, seq, null);
        } else {
          // The line closed or the offer is gone: say so (the offer's end frame follows). Anything
          // else (the network, a restart) leaves what is shown; a first load that failed shows
          // Join, which answers the same entry if there is one.
          if (err instanceof ApiError && ["queue_closed", "not_a_queue", "not_found"].includes(err.code)) {
            this.errorText = refusalText(err, "");
          }
          if (!this.places.has(offerId)) this._loadFailed.add(offerId);
        }
      })
      .finally(() => {
        if (this._fetches.get(offerId) === fetching) this._fetches.delete(offerId);
        this._changed();
      });
    this._fetches.set(offerId, fetching);
    return fetching;
  }

  /** Every open line of the show, asked again: the page came back (visible, reconnected). */
  refreshAll() {
    for (const offer of this.viewer.state.offers.values()) {
      if (offer.mode === "queue" && offer.state !== "ended") this.refresh(offer.id);
    }
  }

  /** A `queue` frame: how far each line of the show is let in. */
  frame(frame) {
    let moved = false;
    for (const line of frame.queues || []) {
      const id = line.offer_id;
      if (this._raise(id, line.admitted_upto)) moved = true;
      const place = this.places.get(id);
      if (!place) continue;
      const drawn = place.rank === null && line.ranked;
      const letIn = place.rank !== null && place.rank <= this.admittedUpto.get(id) && !place.pass && !place.expired;
      if (drawn || letIn) this._autoRefresh(id);
    }
    if (moved) this._changed();
  }

  /** A hold refused for its pass (403 no_pass / pass_expired / pass_not_yours; buying.js). */
  passRefused(err) {
    const { card, clock, state } = this.viewer;
    const offer = this.offerFor(state.pinned, clock.now());
    if (err.code === "pass_expired") {
      const place = offer && this.places.get(offer.id);
      if (place) this.places.set(offer.id, { ...place, pass: null, pass_expires_at: null, expired: true });
      card.setNotice({ text: T.passRanOutNotice });
    } else {
      // Not this buyer's pass, or none: ask again where this buyer stands (a new buyer cookie, a
      // page that missed its admission), then the card shows it.
      const checking = { text: T.passChecking, announce: false };
      card.setNotice(checking);
      const asked = offer ? this.refresh(offer.id, { force: true }) : Promise.resolve(this.refreshAll());
      asked.then(() => {
        if (card.notice === checking) card.setNotice(null);
      });
    }
    this._changed();
  }

  /** Orders of this buyer (GET /api/buyers/me, or a checkout's answer): their lines name offers. */
  noteOrders(orders) {
    for (const order of orders || []) {
      // Paid, whatever happened since (shipped, partly refunded: docs/orders.md); units put back on sale are not bought.
      if (!["paid", "fulfilled", "delivered", "partially_refunded"].includes(order.status) || this._orders.has(order.order_id)) continue;
      this._orders.add(order.order_id);
      for (const line of order.lines || []) {
        const units = line.quantity - (line.restocked_quantity || 0);
        if (Number.isInteger(line.offer_id)) this.bought.set(line.offer_id, (this.bought.get(line.offer_id) || 0) + units);
      }
    }
    this._changed();
  }

  // -- drawing -----------------------------------------------------------------------------------

  /** Called by the card's render: the room for `offer` (null: none), unless a hold is on screen. */
  render(now, offer, { hold = null, soldOut = false, ended = false } = {}) {
    this._offer = offer || null;
    this._context = { hold, soldOut, ended };
    const state = offer && !hold ? this._state(offer, now) : "none";
    const before = this._shown;
    this._shown = offer ? { id: offer.id, state } : null;
    show(this.root, state !== "none");
    this.root.dataset.state = state;
    if (state === "none") return;

    const place = this.places.get(offer.id) || null;
    if (state === "loading") this.refresh(offer.id);
    if (state === "drawing" || state === "admitting" || (state === "expired" && place?.pass)) this._autoRefresh(offer.id);
    if (before && before.id === offer.id && before.state !== state) this._announce(offer, state, place, now);
    this._paint(offer, state, place, now);
  }

  /** Several times a second: the countdowns, and a redraw when a moment passes (start, pass end). */
  tick(now) {
    const offer = this._offer;
    if (!offer || !this._shown || this._shown.id !== offer.id) return;
    const state = this._context.hold ? "none" : this._state(offer, now);
    if (state !== this._shown.state) {
      this.viewer.card.render();
      return;
    }
    if (state === "none") return;
    if (state === "drawing" || state === "admitting") this._autoRefresh(offer.id); // until /me says so (a missed frame)
    this._paint(offer, state, this.places.get(offer.id) || null, now);
  }

  _state(offer, now) {
    const place = this.places.get(offer.id);
    if (place === undefined) return !this.viewer.buyer.id || this._loadFailed.has(offer.id) ? "join" : "loading";
    if (place === null) return "join";
    if ((this.bought.get(offer.id) || 0) >= (offer.per_customer_limit || 1)) return "done";
    if (place.expired) return "expired";
    if (place.pass) return place.pass_expires_at > now ? "admitted" : "expired";
    if (place.rank === null || place.rank === undefined) return now < offer.starts_at ? "waiting" : "drawing";
    return place.rank <= (this.admittedUpto.get(offer.id) || 0) ? "admitting" : "ranked";
  }

  _paint(offer, state, place, now) {
    const { soldOut, ended } = this._context;
    const started = now >= offer.starts_at;
    const upto = this.admittedUpto.get(offer.id) || 0;
    const position = place && Number.isInteger(place.rank) ? Math.max(0, place.rank - upto) : null;
    let status = "";
    let timer = "";
    let timerSpoken = "";
    let detail = "";
    switch (state) {
      case "join":
      case "loading":
        status = started ? T.started : T.startsIn(offer.starts_at - now);
        timerSpoken = started ? "" : T.startsInSpoken(offer.starts_at - now);
        detail = state === "loading" ? T.checking : started ? T.explainLate : T.explainBefore(offer.starts_at, now);
        break;
      case "waiting":
        status = T.inLine;
        timer = T.startsInShort(offer.starts_at - now);
        timerSpoken = T.startsInSpoken(offer.starts_at - now);
        detail = T.drawnAtStart;
        break;
      case "drawing":
        status = T.drawing;
        detail = T.drawingDetail;
        break;
      case "ranked": {
        const rate = offer.admit_per_minute;
        const eta = rate > 0 ? Math.ceil((position * 60) / rate) : Number.isInteger(place.eta_s) ? place.eta_s : null;
        status = T.position(position, eta);
        detail = soldOut ? T.soldOutWaiting : T.keepOpen;
        break;
      }
      case "admitting":
        status = T.yourTurn;
        detail = T.gettingPass;
        break;
      case "admitted":
        status = T.yourTurn;
        timer = T.passExpiresIn(place.pass_expires_at - now);
        timerSpoken = T.passExpiresSpoken(place.pass_expires_at - now);
        detail = soldOut ? T.soldOutYourTurn : T.pickAndBuy;
        break;
      case "expired":
        status = this.bought.has(offer.id) ? T.thanks : T.passRanOut;
        detail = this.bought.has(offer.id) ? T.turnOver : T.placeWentOn;
        break;
      case "done":
        status = T.thanks;
        detail = T.boughtYourShare;
        break;
      default:
        break;
    }
    setText(this.status, status);
    setText(this.timer, timer);
    show(this.timer, Boolean(timer));
    if (timerSpoken) this.timer.setAttribute("aria-label", timerSpoken);
    setText(this.detail, detail);

    // Who I am in the draw, small: the entry id is what the public audit lists.
    const entered = Boolean(place && place.entry_id);
    show(this.meta, entered);
    if (entered) {
      setText(this.entry, T.entry(place.entry_id));
      setText(this.drawNumber, Number.isInteger(place.rank) ? `${T.drawNumber(place.rank)} · ` : "");
      const audit = `/api/shows/${encodeURIComponent(this.viewer.slug)}/offers/${offer.id}/audit`;
      if (this.audit.getAttribute("href") !== audit) this.audit.setAttribute("href", audit);
    }
    this.root.dataset.rank = place && Number.isInteger(place.rank) ? String(place.rank) : "";
    this.root.dataset.position = state === "ranked" ? String(position) : "";

    const canJoin = state === "join" && !soldOut && !ended;
    show(this.joinButton, canJoin);
    if (canJoin) {
      setText(this.joinButton, this.solving ? T.solving : this.joining ? T.joining : T.join);
      this.joinButton.disabled = this.joining;
      this.joinButton.setAttribute("aria-busy", String(this.joining));
    }
    show(this.error, Boolean(this.errorText));
    setText(this.error, this.errorText);
  }

  _announce(offer, state, place, now) {
    const { announce } = this.viewer;
    if (state === "ranked") {
      const upto = this.admittedUpto.get(offer.id) || 0;
      announce(T.positionSpoken(Math.max(0, place.rank - upto)));
    } else if (state === "admitted") {
      announce(T.yourTurnSpoken(place.pass_expires_at - now));
    } else if (state === "expired" && !this.bought.has(offer.id)) {
      announce(T.passRanOutNotice);
    }
  }

  // -- plumbing ----------------------------------------------------------------------------------

  _url(offerId) {
    return `/api/shows/${encodeURIComponent(this.viewer.slug)}/offers/${encodeURIComponent(offerId)}/queue`;
  }

  _apply(offerId, seq, place) {
    if (seq < (this._applied.get(offerId) || 0)) return; // an older answer arriving late
    this._applied.set(offerId, seq);
    this._loadFailed.delete(offerId);
    if (place) this._raise(offerId, place.admitted_upto);
    this.places.set(offerId, place);
  }

  /** admitted_upto only ever rises; true when it did. */
  _raise(offerId, upto) {
    if (!Number.isInteger(upto) || upto <= (this.admittedUpto.get(offerId) || 0)) return false;
    this.admittedUpto.set(offerId, upto);
    return true;
  }

  _autoRefresh(offerId) {
    const last = this._lastAuto.get(offerId) || 0;
    if (Date.now() - last < AUTO_FETCH_GAP_MS || this._fetches.has(offerId)) return;
    this._lastAuto.set(offerId, Date.now());
    this.refresh(offerId);
  }

  _changed() {
    this.viewer.card.render(); // which draws this room too (and shows Buy once it may)
  }
}
