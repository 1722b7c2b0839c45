// The show's WebSocket: a snapshot first, then changes. Reconnects with ?after=<last seq> so
// nothing is missed; a gap in seq (or a resync request) reconnects the same way.

export class ShowSocket {
  constructor(slug, { onFrame, onState }) {
    this.slug = slug;
    this.onFrame = onFrame;
    this.onState = onState || (() => {});
    this.lastSeq = null;
    this.retry = 0;
    this.closed = false;
    this.offset = 0; // server time - local time, ms
    this.connect();
  }

  now() {
    return Date.now() + this.offset;
  }

  connect() {
    if (this.closed) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const after = this.lastSeq === null ? "" : `?after=${this.lastSeq}`;
    const ws = (this.ws = new WebSocket(`${scheme}://${location.host}/ws/shows/${encodeURIComponent(this.slug)}${after}`));
    this.onState("connecting");
    ws.onopen = () => {
      this.retry = 0;
      this.onState("live");
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (typeof frame.ts === "number") this.offset = frame.ts - Date.now();
      if (frame.type === "snapshot") {
        this.lastSeq = frame.seq;
      } else if (typeof frame.seq === "number") {
        if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // already seen
        if (this.lastSeq !== null && frame.seq > this.lastSeq + 1) {
          ws.close(); // a gap: resume from what we have
          return;
        }
        this.lastSeq = frame.seq;
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      if (event.code === 4404) {
        this.onState("gone");
        return;
      }
      this.onState("reconnecting");
      const wait = Math.min(10000, 500 * 2 ** this.retry++) + Math.random() * 300;
      setTimeout(() => this.connect(), wait);
    };
    this.pinger = this.pinger || setInterval(() => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "ping" }));
    }, 25000);
  }

  close() {
    this.closed = true;
    clearInterval(this.pinger);
    if (this.ws) this.ws.close();
  }
}
