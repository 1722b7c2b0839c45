// A moderator's screen of one show, /host/shows/{slug} for an account the show's host named by email
// (docs/host-chat.md): the show's title and status, and its chat with what moderators may do there:
// post with a badge, reply, pin (panel/host_chat.js), delete and mute (panel/chat.js), and the CSV
// after the end. Nothing of products, offers, orders or figures: the API refuses moderators those
// (403 moderator_not_allowed), so the screen does not offer them.
//
// Live state comes the way the host's screen gets it (panel/show.js): common/live.js and the one
// reducer of show frames, common/show_state.js.

import { sessionApi } from "../common/api.js";
import { ServerClock } from "../common/format.js";
import { LiveSocket } from "../common/live.js";
import { ShowState } from "../common/show_state.js";
import { t } from "../common/i18n.js";
import { Chat } from "./chat.js";
import { $ } from "./dom.js";
import { HostChat } from "./host_chat.js";

const CHAT_KEEP = 200; // as on the host's screen: a moderator scrolls back further than a viewer
const STATUS_TEXT = { scheduled: () => t("panel.status.scheduled"), live: () => t("panel.status.live"), ended: () => t("panel.status.ended") };
const CONNECTION_TEXT = {
  open: () => t("panel.conn.open"), connecting: () => t("panel.conn.connecting"),
  reconnecting: () => t("panel.conn.reconnecting"), gone: () => t("panel.conn.gone"),
};

const screen = $("#show-screen");
const slug = screen.dataset.slug;

const panel = {
  slug,
  path: `/api/shows/${encodeURIComponent(slug)}`,
  api: sessionApi("/host/login"),
  clock: new ServerClock(),
  state: new ShowState(null, { chatKeep: CHAT_KEEP }), // the snapshot is the socket's first frame
  chat: null,
  hostChat: null,

  /** A frame (from the socket, or the moderator's own change as the server answered it) and its redraw. */
  apply(frame) {
    render(this.state.apply(frame));
  },
};
panel.hostChat = new HostChat(panel);
panel.chat = new Chat(panel);

function renderShow() {
  const show = panel.state.show;
  if (!show) return;
  $("#show-title").textContent = show.title;
  document.title = `${show.title} · livedrop`;
  const badge = $("#show-status");
  badge.textContent = STATUS_TEXT[show.status] ? STATUS_TEXT[show.status]() : show.status;
  badge.dataset.status = show.status;
  screen.dataset.status = show.status;
  panel.hostChat.renderShow();
}

function render(parts) {
  const changed = (part) => parts.includes("all") || parts.includes(part);
  if (changed("show")) renderShow();
  if (changed("chat")) panel.chat.render();
  if (changed("pinned_message")) panel.hostChat.render();
}

panel.live = new LiveSocket(`/ws/shows/${encodeURIComponent(slug)}`, {
  // Private frames (this account's own inbox) and sales are not this screen's business.
  onFrame: (frame) => { if (!frame.type.startsWith("thread") && frame.type !== "sold") panel.apply(frame); },
  onStatus: (status) => { $("#conn-state").textContent = CONNECTION_TEXT[status] ? CONNECTION_TEXT[status]() : status; },
  clock: panel.clock,
});
panel.live.start();
