// The show as a page knows it: the snapshot, kept current by the live frames. The one reducer of
// show frames: the viewer page, the replay page and the host panel all keep their show here, so a
// frame means the same thing on every screen. No DOM here; `apply` names the parts that changed so
// a page redraws only those.
//
// Lasting frames carry their whole new state (the whole product, the whole offer), so applying one
// twice is harmless. That is why the panel also passes its own changes through `apply` (the answer
// to its pin or its offer) as soon as the server accepts them: the frame that follows changes nothing.

const CHAT_KEEP = 100;

export class ShowState {
  /**
   * @param {object|null} snapshot the show's snapshot (GET /api/shows/{slug}, or a page's embedded
   *   one); null when it is to come as the socket's first frame (the panel): `show` is null until then
   * @param {{chatKeep?: number}} [options] how many chat messages to keep (the newest)
   */
  constructor(snapshot = null, { chatKeep = CHAT_KEEP } = {}) {
    this.chatKeep = chatKeep;
    this.load(snapshot || { seq: null, show: null });
  }

  load(snapshot) {
    this.seq = snapshot.seq ?? 0;
    this.show = snapshot.show ? { ...snapshot.show } : null;
    this.pinned = snapshot.pinned ? { ...snapshot.pinned } : null;
    // Every offer heard of, ended ones too (the panel shows an ended offer for a while); the
    // questions below (liveOffer, upcomingOffer, productIds) skip the ended ones.
    this.offers = new Map();
    for (const offer of snapshot.offers || []) this.offers.set(offer.id, { ...offer });
    this.stock = { ...(snapshot.stock || {}) };
    this.viewers = snapshot.viewers ?? 0;
    this.reactions = { ...(snapshot.reactions || {}) };
    this.chat = (snapshot.chat || []).slice(-this.chatKeep);
    // The show's bag (docs/bag.md): products with variants, the pinned one first.
    this.bag = (snapshot.bag || []).map((p) => ({ ...p }));
    // The chat message pinned on every screen (docs/host-chat.md), or null.
    this.pinnedMessage = snapshot.pinned_message ? { ...snapshot.pinned_message } : null;
    // The show's own video is on (true), off (false), or not said (null: an older server; ask).
    this.video = typeof snapshot.video === "boolean" ? snapshot.video : null;
  }

  /**
   * Applies one frame; returns the names of the parts that changed: "all" (a snapshot), "show",
   * "pinned", "offers", "stock", "viewers", "reactions", "chat"; none for frames that are not state
   * ("sold", "pong", "error": the page handles those itself).
   */
  apply(frame) {
    switch (frame.type) {
      case "snapshot":
        this.load(frame);
        return ["all"];
      case "show":
        this.show = { ...this.show, ...(frame.show || pick(frame, ["slug", "title", "status", "scheduled_at", "started_at", "ended_at"])) };
        return ["show"];
      case "pin":
        this.pinned = { ...frame.product };
        Object.assign(this.stock, frame.stock || {});
        return ["pinned"];
      case "unpin":
        if (this.pinned && (frame.product_id === undefined || this.pinned.id === frame.product_id)) this.pinned = null;
        return ["pinned"];
      case "offer": {
        const offer = pick(frame, ["id", "product_id", "title", "price_cents", "currency", "starts_at", "ends_at",
          "quantity", "remaining", "per_customer_limit", "hold_s", "state", "mode", "admit_per_minute", "commitment", "seed",
          "entries_open_at", "entries_close_at", "claim_minutes", "giveaway", "buyers_only"]); // draws: viewer/draw.js, panel/draw.js
        this.offers.set(offer.id, offer);
        return ["offers"];
      }
      case "stock":
        Object.assign(this.stock, frame.stock || {});
        for (const [id, left] of Object.entries(frame.offers || {})) {
          const offer = this.offers.get(Number(id));
          if (offer) offer.remaining = left;
        }
        return ["stock"];
      case "viewers":
        this.viewers = frame.viewers;
        return ["viewers"];
      case "reactions":
        this.reactions = { ...frame.reactions };
        return ["reactions"];
      case "chat":
        if (!this.chat.some((m) => m.id === frame.id)) {
          this.chat.push(pick(frame, ["id", "buyer_id", "name", "text", "ts", "role", "reply_to"]));
          if (this.chat.length > this.chatKeep) this.chat.splice(0, this.chat.length - this.chatKeep);
        }
        return ["chat"];
      case "chat_deleted":
        // The line goes, and so does its quote in the replies to it (its words must not live on).
        this.chat = this.chat.filter((m) => m.id !== frame.id)
          .map((m) => (m.reply_to && m.reply_to.id === frame.id ? pick(m, ["id", "buyer_id", "name", "text", "ts", "role"]) : m));
        return ["chat"];
      case "bag":
        this.bag = (frame.products || []).map((p) => ({ ...p }));
        Object.assign(this.stock, frame.stock || {});
        return ["bag"];
      case "chat_pin":
        this.pinnedMessage = frame.message ? { ...frame.message } : null;
        return ["pinned_message"];
      case "video":
        this.video = Boolean(frame.on);
        return ["video"];
      default:
        return [];
    }
  }

  /** The offer the pinned product sells at right now (the lowest price when two overlap). */
  liveOffer(now) {
    if (!this.pinned) return null;
    let best = null;
    for (const offer of this.offers.values()) {
      // A draw's units go to its winners (viewer/draw.js): it is no price a press can buy at.
      if (offer.product_id !== this.pinned.id || offer.state === "ended" || offer.mode === "draw") continue;
      if (offer.starts_at <= now && now < offer.ends_at && (!best || offer.price_cents < best.price_cents)) best = offer;
    }
    return best;
  }

  /** The next offer on the pinned product that has not started yet. */
  upcomingOffer(now) {
    if (!this.pinned) return null;
    let next = null;
    for (const offer of this.offers.values()) {
      if (offer.product_id !== this.pinned.id || offer.state === "ended" || offer.starts_at <= now || offer.mode === "draw") continue;
      if (!next || offer.starts_at < next.starts_at) next = offer;
    }
    return next;
  }

  variant(sku) {
    return this.pinned?.variants?.find((v) => v.sku === sku) || null;
  }

  label(sku) {
    return this.variant(sku)?.label || sku;
  }

  /** Units available of a SKU, or null when the server has not said. */
  available(sku) {
    const n = this.stock[sku];
    return Number.isInteger(n) ? n : null;
  }

  /** The products on sale in this show: the pinned one and those of offers not ended. */
  productIds() {
    const ids = new Set();
    if (this.pinned) ids.add(this.pinned.id);
    for (const offer of this.offers.values()) if (offer.state !== "ended") ids.add(offer.product_id);
    return ids;
  }
}

function pick(source, keys) {
  const out = {};
  for (const key of keys) if (key in source) out[key] = source[key];
  return out;
}
