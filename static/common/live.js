// A show's live connection (/ws/shows/{slug}) that keeps itself alive: reconnects with jittered
// backoff, resumes with ?after=<last seq> so nothing is missed, and notices a gap in seq at once
// (then resumes from the last seq it has). Shared by the viewer page and the host panel.
//
//   const live = new LiveSocket("/ws/shows/demo", { after: snapshot.seq, onFrame, onStatus, clock });
//   live.start();
//
// onFrame gets every frame in order, lasting ones exactly once. onStatus gets "connecting",
// "open", "reconnecting" (the page shows "reconnecting…") or "gone" (the show does not exist).

const CLOSE_UNKNOWN_SHOW = 4404;
const PING_EVERY_MS = 15000;
const PONG_WAIT_MS = 10000; // no pong by then: the connection is dead even if the browser thinks not
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;

export class LiveSocket {
  /**
   * @param {string} path "/ws/shows/<slug>"
   * @param {{after?: number|null, onFrame: (frame: any) => void, onStatus?: (status: string) => void,
   *          clock?: {measure: Function, set: Function}, token?: string}} options
   */
  constructor(path, { after = null, onFrame, onStatus = () => {}, clock = null, token = null }) {
    this.path = path;
    this.lastSeq = Number.isInteger(after) ? after : null;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.clock = clock;
    this.token = token;
    this.ws = null;
    this.status = "idle";
    this.attempt = 0;
    this.stopped = false;
    this._retryTimer = null;
    this._pingTimer = null;
    this._pongTimer = null;
    this._pingSentAt = 0;
    this._onOnline = () => {
      if (this.status !== "open") this._connectNow();
    };
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this._onOnline);
    this._connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this._onOnline);
    clearTimeout(this._retryTimer);
    this._stopPings();
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
  }

  /** Sends a frame; false when not connected (the caller tells the user). */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Drop the connection and make a new one at once (e.g. the page just got its buyer cookie). */
  reconnect() {
    this._connectNow();
  }

  _url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams();
    if (this.lastSeq !== null) params.set("after", String(this.lastSeq));
    if (this.token) params.set("token", this.token);
    const query = params.toString();
    return `${scheme}//${location.host}${this.path}${query ? `?${query}` : ""}`;
  }

  _setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.onStatus(status);
  }

  _connectNow() {
    clearTimeout(this._retryTimer);
    const old = this.ws;
    this.ws = null;
    if (old) {
      old.onclose = old.onmessage = old.onopen = old.onerror = null;
      try {
        old.close(1000, "reconnecting");
      } catch {
        /* already closed */
      }
    }
    this._stopPings();
    this._connect();
  }

  _connect() {
    if (this.stopped) return;
    if (this.status !== "reconnecting") this._setStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(this._url());
    } catch {
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this._setStatus("open");
      this._startPings();
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.attempt = 0; // the server is talking: the next drop starts the backoff afresh
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this._receive(frame);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this._stopPings();
      if (event.code === CLOSE_UNKNOWN_SHOW) {
        this._setStatus("gone");
        return;
      }
      this._scheduleRetry();
    };
  }

  _receive(frame) {
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "pong") {
      clearTimeout(this._pongTimer);
      if (this.clock) this.clock.measure(frame.ts, this._pingSentAt, Date.now());
      return;
    }
    if (frame.type === "snapshot") {
      this.lastSeq = Number.isInteger(frame.seq) ? frame.seq : this.lastSeq;
      if (this.clock) this.clock.set(frame.server_time);
      this.onFrame(frame);
      return;
    }
    if (Number.isInteger(frame.seq)) {
      if (this.lastSeq !== null) {
        if (frame.seq <= this.lastSeq) return; // seen already (a resume overlapping what we had)
        if (frame.seq > this.lastSeq + 1) {
          // A gap: something was lost between the server and here. Resume from what we have;
          // the server replays every event after it, in order.
          this._connectNow();
          return;
        }
      }
      this.lastSeq = frame.seq;
    }
    this.onFrame(frame);
  }

  _scheduleRetry() {
    if (this.stopped) return;
    this._setStatus("reconnecting");
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    // "Equal jitter": half fixed, half random, so a server restart is not met by every viewer
    // at the same millisecond, and nobody waits for nothing.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _startPings() {
    this._stopPings();
    const ping = () => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      this._pingSentAt = Date.now();
      this.ws.send('{"type":"ping"}');
      clearTimeout(this._pongTimer);
      this._pongTimer = setTimeout(() => {
        this._setStatus("reconnecting"); // silent for this long: the connection is gone
        this._connectNow();
      }, PONG_WAIT_MS);
    };
    ping(); // the first one sets the clock
    this._pingTimer = setInterval(ping, PING_EVERY_MS);
  }

  _stopPings() {
    clearInterval(this._pingTimer);
    clearTimeout(this._pongTimer);
    this._pingTimer = null;
    this._pongTimer = null;
  }
}
