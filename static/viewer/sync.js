// Keeps the shopping overlay in step with the picture for a viewer who is behind: an HLS player
// runs seconds late, so a pin the host made "now" belongs to a moment the viewer has not seen yet.
// Lasting show frames that change what is on screen (pin, unpin, offer) wait until the player's
// position (server-clock ms, from video.js) reaches the frame's `ts`; everything else (stock,
// chat, viewers, the show's status, the buy button) is applied at once. Nothing waits more than
// MAX_DELAY_MS after it happened, and when the position is unknown (WebRTC, not playing) nothing waits.
//
// Frames are released in order: once one waits, the ones after it wait behind it, so a pin and the
// offer made right after it never swap.

export const MAX_DELAY_MS = 30000;
const DELAYED = new Set(["pin", "unpin", "offer"]);
const CHECK_MS = 100;

export class MediaSync {
  /**
   * @param {{position: () => number|null, clock: {now(): number}, apply: (frame: any) => void,
   *          maxDelayMs?: number}} options
   */
  constructor({ position, clock, apply, maxDelayMs = MAX_DELAY_MS }) {
    this.position = position;
    this.clock = clock;
    this.apply = apply;
    this.maxDelayMs = maxDelayMs;
    this.queue = [];
    this.timer = null;
    // Which stock values arrived after a held frame: a pin carries the stock of its moment, and
    // applied late it must not put back counts that newer stock frames already replaced.
    this.arrivals = 0;
    this.stockAt = new Map(); // sku -> arrival number
    this.offerLeft = new Map(); // offer id -> {at, left}
  }

  /** Takes a frame; true when it is held (the caller must not apply it now). */
  push(frame) {
    this.arrivals += 1;
    if (frame.type === "snapshot") {
      this.queue = []; // a fresh snapshot is the whole state: what was held is in it
      this._stopTimer();
      return false;
    }
    if (frame.type === "stock") {
      for (const sku of Object.keys(frame.stock || {})) this.stockAt.set(sku, this.arrivals);
      for (const [id, left] of Object.entries(frame.offers || {})) this.offerLeft.set(Number(id), { at: this.arrivals, left });
      return false;
    }
    if (!DELAYED.has(frame.type)) return false;
    if (this.queue.length === 0 && this._due(frame)) return false;
    this.queue.push({ frame, at: this.arrivals });
    if (!this.timer) this.timer = setInterval(() => this.release(), CHECK_MS);
    return true;
  }

  /** Applies every held frame whose moment the player has reached. */
  release() {
    while (this.queue.length && this._due(this.queue[0].frame)) {
      const { frame, at } = this.queue.shift();
      this.apply(this._fresh(frame, at));
    }
    if (!this.queue.length) this._stopTimer();
  }

  /** How far (ms) the player is behind the server's now, or null when it is as good as live. */
  behindMs() {
    const position = this.position();
    return position === null ? null : Math.max(0, this.clock.now() - position);
  }

  _due(frame) {
    if (!Number.isFinite(frame.ts)) return true;
    if (this.clock.now() - frame.ts >= this.maxDelayMs) return true;
    const position = this.position();
    return position === null || position >= frame.ts;
  }

  _fresh(frame, at) {
    if (frame.type === "pin" && frame.stock) {
      const stock = {};
      for (const [sku, n] of Object.entries(frame.stock)) if ((this.stockAt.get(sku) || 0) < at) stock[sku] = n;
      return { ...frame, stock };
    }
    if (frame.type === "offer") {
      const newer = this.offerLeft.get(frame.id);
      if (newer && newer.at > at && frame.state !== "ended") return { ...frame, remaining: newer.left };
    }
    return frame;
  }

  _stopTimer() {
    clearInterval(this.timer);
    this.timer = null;
  }
}
