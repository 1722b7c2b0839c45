// The show as this page knows it: the snapshot, kept current by the live frames.
// No DOM here; `apply` says what changed so the page redraws only that.

const CHAT_KEEP = 100;

export class ShowState {
  constructor(snapshot) {
    this.load(snapshot);
  }

  load(snapshot) {
    this.seq = snapshot.seq ?? 0;
    this.show = { ...snapshot.show };
    this.pinned = snapshot.pinned ? { ...snapshot.pinned } : null;
    this.offers = new Map();
    for (const offer of snapshot.offers || []) this.offers.set(offer.id, { ...offer });
    this.stock = { ...(snapshot.stock || {}) };
    this.viewers = snapshot.viewers ?? 0;
    this.reactions = { ...(snapshot.reactions || {}) };
    this.chat = (snapshot.chat || []).slice(-CHAT_KEEP);
  }

  /** Applies one frame; returns the names of the parts that changed. */
  apply(frame) {
    switch (frame.type) {
      case "snapshot":
        this.load(frame);
        return ["all"];
      case "show":
        this.show = { ...this.show, ...(frame.show || pick(frame, ["slug", "title", "status", "scheduled_at", "started_at", "ended_at"])) };
        return ["show", "card"];
      case "pin":
        this.pinned = { ...frame.product };
        Object.assign(this.stock, frame.stock || {});
        return ["card"];
      case "unpin":
        if (this.pinned && (frame.product_id === undefined || this.pinned.id === frame.product_id)) this.pinned = null;
        return ["card"];
      case "offer": {
        const offer = pick(frame, ["id", "product_id", "title", "price_cents", "currency", "starts_at", "ends_at",
          "quantity", "remaining", "per_customer_limit", "hold_s", "state"]);
        if (offer.state === "ended") this.offers.delete(offer.id);
        else this.offers.set(offer.id, offer);
        return ["card"];
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
          this.chat.push(pick(frame, ["id", "buyer_id", "name", "text", "ts"]));
          if (this.chat.length > CHAT_KEEP) this.chat.splice(0, this.chat.length - CHAT_KEEP);
        }
        return ["chat"];
      case "chat_deleted":
        this.chat = this.chat.filter((m) => m.id !== frame.id);
        return ["chat"];
      default:
        return [];
    }
  }

  /** The offer the pinned product sells at right now (the lowest price when two overlap). */
  liveOffer(now) {
    if (!this.pinned) return null;
    let best = null;
    for (const offer of this.offers.values()) {
      if (offer.product_id !== this.pinned.id || offer.state === "ended") continue;
      if (offer.starts_at <= now && now < offer.ends_at && (!best || offer.price_cents < best.price_cents)) best = offer;
    }
    return best;
  }

  /** The next offer on the pinned product that has not started yet. */
  upcomingOffer(now) {
    if (!this.pinned) return null;
    let next = null;
    for (const offer of this.offers.values()) {
      if (offer.product_id !== this.pinned.id || offer.state === "ended" || offer.starts_at <= now) continue;
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

  productIds() {
    const ids = new Set();
    if (this.pinned) ids.add(this.pinned.id);
    for (const offer of this.offers.values()) ids.add(offer.product_id);
    return ids;
  }
}

function pick(source, keys) {
  const out = {};
  for (const key of keys) if (key in source) out[key] = source[key];
  return out;
}
