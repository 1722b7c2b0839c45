// The viewer page /s/{slug}: starts from the snapshot the server put in the page, keeps it live
// over /ws/shows/{slug} (resuming with ?after=), and wires the card, buying, the waiting room and
// chat together.

import { api, ApiError } from "./common/api.js";
import { formatDateTime, formatRelative, ServerClock } from "./common/format.js";
import { LiveSocket } from "./common/live.js";
import { t } from "./common/i18n.js";
import { Buying } from "./viewer/buying.js";
import { Card } from "./viewer/card.js";
import { Draws } from "./viewer/draw.js";
import { Queue } from "./viewer/queue.js";
import { Remind } from "./viewer/remind.js";
import { Waitlist } from "./viewer/waitlist.js";
import { Ask } from "./viewer/ask.js";
import { byId, makeAnnouncer, setText, show } from "./viewer/dom.js";
import { Social } from "./viewer/social.js";
import { Bag } from "./viewer/bag.js";
import { PinnedMessage } from "./viewer/host_chat.js";
import { startVideo } from "./viewer/video.js";
import { ShowState } from "./common/show_state.js";
import { MediaSync } from "./viewer/sync.js";
import { Share } from "./viewer/share.js";
import { wireSkipLink } from "./viewer/skip.js";
import { Upcoming } from "./viewer/upcoming.js";

const TICK_MS = 250;

const page = JSON.parse(byId("livedrop-page").textContent);
const clock = new ServerClock();
clock.set(page.snapshot.server_time);

const viewer = {
  slug: page.snapshot.show.slug,
  clock,
  state: new ShowState(page.snapshot),
  announce: makeAnnouncer(byId("announcer")),
  buyer: { id: page.buyer_id || null, name: "" },
  live: null,
  card: null,
  buying: null,
  queue: null,
  social: null,
  video: null,
  sync: null,
  _buyerPromise: null,

  /** Makes sure this browser has a buyer (normally the page's first visit made one). */
  ensureBuyer(name = "") {
    if (this.buyer.id) return Promise.resolve();
    if (!this._buyerPromise) {
      this._buyerPromise = api("/api/buyers", { method: "POST", body: name ? { name } : {} })
        .then((made) => {
          this.buyer.id = made.buyer_id;
          this.buyer.name = made.name || "";
          this.social.renderName();
          this.live.reconnect(); // the socket now carries the new cookie, so chat works
        })
        .finally(() => {
          this._buyerPromise = null;
        });
    }
    return this._buyerPromise;
  },

  /** GET /api/buyers/me: the name, live holds and orders of this browser's buyer. */
  async loadMe() {
    try {
      const me = await api("/api/buyers/me");
      this.buyer.id = me.buyer_id;
      this.buyer.name = me.name || "";
      this.social.renderName();
      return me;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.buyer.id = null;
      throw err;
    }
  },
};

viewer.card = new Card(viewer);
viewer.buying = new Buying(viewer);
viewer.queue = new Queue(viewer);
viewer.social = new Social(viewer);
viewer.waitlist = new Waitlist(viewer); // back in stock (docs/notify.md)
viewer.remind = new Remind(viewer);
viewer.bag = new Bag(viewer); // the show's bag (docs/bag.md)
viewer.pinnedMessage = new PinnedMessage(viewer); // the host's pinned chat message (docs/host-chat.md)
viewer.ask = new Ask(viewer); // private questions to the host (docs/threads.md)
viewer.share = new Share(viewer, page.share_url);
viewer.upcoming = new Upcoming(viewer, page.host_name);
wireSkipLink();
viewer.draws = new Draws(viewer); // draws and giveaways (docs/draws.md)

// -- the show's state (scheduled / live / ended) --------------------------------------------------

const root = byId("viewer");
const stateBox = byId("show-state");
const stateText = byId("show-state-text");
const reminder = byId("reminder-link");
let lastStatus = viewer.state.show.status;

function renderShow() {
  const { show: s } = viewer.state;
  root.dataset.status = s.status;
  if (viewer.video) viewer.video.setStream(s.stream_url || null, s.stream_kind || null); // the host changed it
  show(byId("live-badge"), s.status === "live");
  setText(byId("show-title"), s.title);
  if (s.status !== lastStatus) {
    if (s.status === "live") viewer.announce(t("show.live_spoken"));
    if (s.status === "ended") viewer.announce(t("show.ended_spoken"));
    lastStatus = s.status;
  }
  show(stateBox, s.status !== "live");
  show(reminder, s.status === "scheduled" && Boolean(s.scheduled_at));
  renderShowText();
  viewer.remind.render();
  viewer.upcoming.render();
}

function renderShowText() {
  const { show: s } = viewer.state;
  if (s.status === "scheduled") {
    if (s.scheduled_at) {
      const until = s.scheduled_at - clock.now();
      setText(stateText, until > 0
        ? t("show.goes_live", { when: formatDateTime(s.scheduled_at), relative: formatRelative(until) })
        : t("show.any_moment"));
    } else {
      setText(stateText, t("show.not_started"));
    }
  } else if (s.status === "ended") {
    setText(stateText, t("show.ended_thanks"));
  }
}

// -- frames -------------------------------------------------------------------------------------

function render(parts) {
  const all = parts.includes("all");
  if (all || parts.includes("show")) renderShow();
  if (all || parts.includes("video")) viewer.video?.setOnAir(viewer.state.video); // the host's camera on or off
  if (all || ["show", "pinned", "offers", "stock"].some((part) => parts.includes(part))) { // what the card shows
    viewer.buying.render();
    viewer.card.render();
    viewer.waitlist.render();
  }
  if (all || parts.includes("viewers")) viewer.social.renderViewers();
  if (all || parts.includes("reactions")) viewer.social.renderReactions();
  if (all || parts.includes("chat")) viewer.social.renderChat();
  if (all || ["bag", "pinned", "stock"].some((part) => parts.includes(part))) viewer.bag.render();
  if (all || parts.includes("pinned_message")) viewer.pinnedMessage.render();
  if (all || parts.includes("offers")) viewer.draws.render();
}

function onFrame(frame) {
  if (frame.type === "error") {
    viewer.social.refused(frame);
    return;
  }
  if (frame.type === "sold") {
    viewer.social.sold(frame);
    return;
  }
  if (frame.type.startsWith("thread")) { // private: only this buyer's pages get these
    viewer.ask.frame(frame);
    return;
  }
  if (frame.type === "queue") { // where the waiting rooms stand: each viewer works out its own place
    viewer.queue.frame(frame);
    return;
  }
  if (frame.type === "draw") viewer.draws.frame(frame); // a draw ran: its result, on every screen
  if (viewer.sync.push(frame)) return; // a pin or offer from a moment the video has not shown yet
  render(viewer.state.apply(frame));
}

const connStatus = byId("conn-status");
let openedBefore = false;
function onStatus(status) {
  if (status === "open") {
    show(connStatus, false);
    viewer.social.connected();
    if (openedBefore) viewer.queue.refreshAll(); // back after a drop: the line moved meanwhile
    openedBefore = true;
  } else if (status === "reconnecting") {
    setText(connStatus, t("conn.reconnecting"));
    show(connStatus, true);
  } else if (status === "gone") {
    setText(connStatus, t("conn.gone"));
    show(connStatus, true);
  }
}

// -- the stream: the show's external HLS/WHEP stream_url, else livedrop's WHEP when the host is on
// camera, else the still. Pins and offers wait for the picture when the player is behind. ----------

viewer.video = startVideo({
  video: byId("stream-video"), placeholder: byId("stream-placeholder"), unmute: byId("unmute"), clock,
  streamUrl: viewer.state.show.stream_url || null, streamKind: viewer.state.show.stream_kind || null,
  onAir: viewer.state.video,
});
viewer.sync = new MediaSync({
  position: () => viewer.video.position(),
  clock,
  apply: (frame) => render(viewer.state.apply(frame)),
});

// -- start --------------------------------------------------------------------------------------

viewer.social.renderName();
render(["all"]);

viewer.live = new LiveSocket(page.ws_path, { after: viewer.state.seq, onFrame, onStatus, clock });
viewer.live.start();

if (viewer.buyer.id) {
  viewer.loadMe().then((me) => {
    viewer.buying.restore(me);
    viewer.bag.restore(me); // every live hold of this show back in the bag, with its timer
    viewer.queue.noteOrders(me.orders);
  }).catch(() => {});
}
viewer.waitlist.start();
viewer.remind.start();
viewer.draws.start();

// A phone that slept (timers stopped, frames missed) sees its true place when it wakes.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") viewer.queue.refreshAll();
});

let lastSlowTick = 0;
setInterval(() => {
  const now = clock.now();
  viewer.card.tick(now);
  viewer.buying.tick(now);
  viewer.queue.tick(now);
  viewer.bag.tick(now);
  viewer.draws.tick(now);
  if (now - lastSlowTick > 15000) {
    lastSlowTick = now;
    if (viewer.state.show.status === "scheduled") renderShowText();
  }
}, TICK_MS);
