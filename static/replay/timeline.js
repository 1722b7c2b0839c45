// The replay's timeline: pins, unpins and offers of the show, each at its media_ms (its offset into
// the recording). No DOM here. The state at a moment is computed from the start every time, so
// seeking back un-pins what came later exactly as playing forward pins it.

export class Timeline {
  /** events: [{seq, type, media_ms, ...payload}] from GET /api/shows/{slug}/replay. */
  constructor(events, products) {
    this.events = [...events].sort((a, b) => a.media_ms - b.media_ms || a.seq - b.seq);
    this.products = new Map(products.map((p) => [p.id, p]));
  }

  /** {pinned: product | null, offers: [offers live at that moment of the show]} at ms into the video. */
  at(ms) {
    let pinnedId = null;
    let pinnedThen = null;
    const offers = new Map();
    for (const event of this.events) {
      if (event.media_ms > ms) break;
      if (event.type === "pin") {
        pinnedId = event.product_id;
        pinnedThen = event.product || null;
      } else if (event.type === "unpin") {
        if (pinnedId === event.product_id || event.product_id === undefined) pinnedId = null;
      } else if (event.type === "offer") {
        if (event.state === "live") offers.set(event.id, event);
        else offers.delete(event.id);
      }
    }
    // What is sold now is the product as it is now (list price, sizes); as it was if it is gone.
    const pinned = pinnedId === null ? null : this.products.get(pinnedId) || pinnedThen;
    return { pinned: pinned ? { ...pinned, offer_id: null } : null, offers: [...offers.values()] };
  }
}
