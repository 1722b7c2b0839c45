// The host talks back (docs/host-chat.md), on the viewer page: the host's and moderators' messages
// carry a badge, a reply quotes the message it answers, and one message may be pinned above the
// chat on every screen. Server text goes in as text only (dom.js's el).

import { byId, el, setText, show } from "./dom.js";
import { t } from "../common/i18n.js";

// Every user-facing string of this module, in one place, in the page's language (t()).
export const TEXT = {
  get host() { return t("hostchat.host"); },
  get moderator() { return t("hostchat.moderator"); },
  get pinned() { return t("hostchat.pinned"); },
  replyTo: (name) => t("hostchat.reply_to", { name }),
};

/** What a chat line shows besides name and text: the badge and the quoted message, or nothing. */
export function chatExtras(message) {
  const extras = {};
  if (message.role === "host" || message.role === "moderator") {
    extras.badge = el("span", { className: `chat-badge chat-badge-${message.role}` }, message.role === "host" ? TEXT.host : TEXT.moderator);
  }
  if (message.reply_to) {
    extras.quote = el("span", { className: "chat-quote", title: TEXT.replyTo(message.reply_to.name) },
      `↪ ${message.reply_to.name}: ${message.reply_to.text}`);
  }
  return extras;
}

export class PinnedMessage {
  constructor(viewer) {
    this.viewer = viewer;
    this.text = el("span", { className: "chat-pinned-text", id: "chat-pinned-text" });
    this.box = el("p", { className: "chat-pinned", id: "chat-pinned", role: "status", hidden: true },
      el("span", { className: "chat-pinned-label" }, TEXT.pinned), " ", this.text);
    byId("chat-log").before(this.box);
  }

  render() {
    const message = this.viewer.state.pinnedMessage;
    show(this.box, Boolean(message));
    if (message) setText(this.text, `${message.name}: ${message.text}`);
  }
}
