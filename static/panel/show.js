// The show screen /host/shows/{slug}: wires its areas together, like static/viewer.js does for the
// viewer page. Each area of the screen is one module with one class (show_bar, lineup, offers and
// the waiting rooms of its queue offers, figures, orders, chat, stream; camera and the embed box),
// handed the `panel` object below: the only state of this page, in the open.
//
// Live state comes from the show's WebSocket through the same two pieces the viewer page uses:
// common/live.js (resume with ?after=, pong watchdog, reconnect when the browser is back online)
// and common/show_state.js (the one reducer of show frames). The host's own changes go through
// that reducer too (panel.apply), as soon as the server answers; the frame that follows is the
// same change again, which is harmless. Figures that need the server's books come from
// /api/shows/{slug}/stats (figures.js).

import { sessionApi } from "../common/api.js";
import { ServerClock } from "../common/format.js";
import { LiveSocket } from "../common/live.js";
import { ShowState } from "../common/show_state.js";
import { startCamera } from "./camera.js";
import { Chat } from "./chat.js";
import { HostChat } from "./host_chat.js";
import { Moderators } from "./moderators.js";
import { DrawPanel } from "./draw.js";
import { $, flash, typing } from "./dom.js";
import { copyText, wireEmbedBox } from "./embed.js";
import { problem } from "./feedback.js";
import { Figures } from "./figures.js";
import { Inbox } from "./inbox.js";
import { Lineup } from "./lineup.js";
import { WaitlistCounts } from "./waitlist.js";
import { Offers } from "./offers.js";
import { Orders } from "./orders.js";
import { Queue } from "./queue.js";
import { ShowBar } from "./show_bar.js";
import { StreamForm } from "./stream.js";
import { t } from "../common/i18n.js";

const TICK_MS = 250;
const CHAT_KEEP = 200; // a moderator scrolls back further than a viewer

const screen = $("#show-screen");
const slug = screen.dataset.slug;

const panel = {
  slug,
  path: `/api/shows/${encodeURIComponent(slug)}`,
  api: sessionApi("/host/login"),
  clock: new ServerClock(),
  state: new ShowState(null, { chatKeep: CHAT_KEEP }), // the snapshot is the socket's first frame
  products: [], // the host's catalog (GET /api/products): the lineup
  live: null,
  showBar: null,
  lineup: null,
  waitlist: null, // who waits for sold-out sizes (panel/waitlist.js)
  offers: null,
  queue: null,
  figures: null,
  orders: null,
  chat: null,
  hostChat: null,
  stream: null,
  draws: null,

  /** A frame (from the socket, or the host's own change as the server answered it) and its redraw. */
  apply(frame) {
    if (frame.type === "offer" && this.offers) this.offers.noteLeft(); // what it had left, before an end zeroes it
    this.queue.note(frame); // the waiting room fields, which the shared state does not keep
    render(this.state.apply(frame));
  },
};

panel.showBar = new ShowBar(panel);
panel.lineup = new Lineup(panel);
panel.waitlist = new WaitlistCounts(panel);
panel.queue = new Queue(panel);
panel.offers = new Offers(panel);
panel.figures = new Figures(panel);
panel.orders = new Orders(panel);
panel.hostChat = new HostChat(panel); // post, reply, pin (docs/host-chat.md)
panel.chat = new Chat(panel);
panel.stream = new StreamForm(panel);
panel.inbox = new Inbox(panel); // private threads with buyers (docs/threads.md)
panel.draws = new DrawPanel(panel); // giveaways and draws (docs/draws.md)
panel.moderators = new Moderators(panel); // who may moderate the chat (docs/host-chat.md)

wireEmbedBox({ field: $("#embed-snippet"), button: $("#copy-embed"), base: screen.dataset.publicBase,
  show: { slug, title: $("#show-title").textContent } });
startCamera($("#camera-panel"));
$("#copy-share").addEventListener("click", async () => {
  const copied = await copyText($("#share-url").value, $("#share-url"));
  flash(copied ? t("panel.share.copied") : t("panel.share.press_ctrl_c"), "ok", 2500);
});

/** An ended show takes no pin, no offer and no shortcut: the controls say so instead of failing. */
function ended() {
  return panel.state.show?.status === "ended";
}
panel.ended = ended;

// -- frames ----------------------------------------------------------------------------------------

function renderLineup() {
  panel.lineup.render();
  panel.offers.renderProducts(); // the composer offers the lineup's products, the pinned one first
}

/** Redraws the areas that show the parts of the state that changed (see ShowState.apply). */
function render(parts) {
  const all = parts.includes("all");
  const changed = (part) => all || parts.includes(part);
  if (changed("show")) {
    panel.showBar.render();
    panel.stream.render();
    screen.dataset.status = panel.state.show?.status || "";
    $("#shortcuts").hidden = ended();
    panel.offers.renderEnded();
    panel.hostChat.renderShow(); // the chat's CSV after the end
  }
  if (changed("pinned") || changed("show")) renderLineup();
  if (changed("bag")) panel.lineup.loadBag(); // the bag's editor (lineup.js) reads the host's own list
  if (changed("offers")) {
    panel.offers.render();
    panel.draws.render();
  }
  if (changed("stock")) {
    panel.lineup.showStock();
    panel.figures.showStock();
    panel.offers.showRemaining();
  }
  if (changed("viewers")) panel.figures.render();
  if (changed("chat")) panel.chat.render();
  if (changed("pinned_message")) panel.hostChat.render();
}

function onFrame(frame) {
  if (frame.type.startsWith("thread")) { // private: only this host's panels get these
    panel.inbox.frame(frame);
    return;
  }
  if (frame.type === "sold") {
    panel.figures.soon(); // the books have a new order: figures and chart now, not at the next poll
    return;
  }
  panel.apply(frame);
}

// -- keyboard shortcuts ----------------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event) || ended()) return;
  const key = event.key.toLowerCase();
  if (key === "n") {
    event.preventDefault();
    panel.lineup.pinNext();
  } else if (key === "r") {
    event.preventDefault();
    panel.offers.repeatLast();
  }
});

// -- start -----------------------------------------------------------------------------------------

panel.live = new LiveSocket(`/ws/shows/${encodeURIComponent(slug)}`, {
  onFrame,
  onStatus: (status) => panel.showBar.connectionStatus(status),
  clock: panel.clock,
});
panel.live.start();

panel.api("/api/products")
  .then(({ products }) => {
    panel.products = products;
    renderLineup();
  })
  .catch((err) => flash(problem(err)));
panel.figures.refresh();
panel.waitlist.start();
panel.inbox.start();
panel.moderators.start();
setInterval(() => panel.offers.tick(panel.clock.now()), TICK_MS);
