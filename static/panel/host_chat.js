// The host talks back (docs/host-chat.md), in the panel: a box to post in chat with the host's badge
// (as a reply when Reply was pressed on a message), Reply and Pin on every message, and the pinned
// message with Unpin; once the show has ended, "Download chat (CSV)" instead of the box (its chat is
// closed). The server answers 403 moderator_not_allowed where only the host may act. The host's
// show screen and a moderator's (panel/moderate.js) both use it.

import { $, h } from "./dom.js";
import { act } from "./feedback.js";
import { t } from "../common/i18n.js";

// Every user-facing string of this module, in one place, in the page's language (t()).
export const TEXT = {
  get placeholder() { return t("panel.hostchat.placeholder"); },
  get send() { return t("panel.hostchat.send"); },
  get reply() { return t("panel.hostchat.reply"); },
  get pin() { return t("panel.hostchat.pin"); },
  get unpin() { return t("panel.hostchat.unpin"); },
  replyingTo: (name) => t("panel.hostchat.replying_to", { name }),
  get cancel() { return t("panel.hostchat.cancel"); },
  get pinned() { return t("panel.hostchat.pinned"); },
  get sent() { return t("panel.hostchat.sent"); },
  get pinnedDone() { return t("panel.hostchat.pinned_done"); },
  get unpinnedDone() { return t("panel.hostchat.unpinned_done"); },
  get label() { return t("panel.hostchat.label"); },
  get csv() { return t("panel.mods.chat_csv"); },
};

export class HostChat {
  constructor(panel) {
    this.panel = panel;
    this.replyTo = null;
    this.input = h("input", { id: "host-chat-text", type: "text", maxlength: "280", placeholder: TEXT.placeholder, "aria-label": TEXT.label });
    this.replyNote = h("p", { class: "muted small", id: "host-chat-reply", hidden: true });
    this.sendButton = h("button", { type: "submit", class: "btn", id: "host-chat-send" }, TEXT.send);
    this.form = h("form", { class: "host-chat-form", id: "host-chat-form", onsubmit: (e) => { e.preventDefault(); this.send(); } },
      this.replyNote, h("div", { class: "row" }, this.input, this.sendButton));
    this.pinnedBox = h("p", { class: "host-chat-pinned", id: "host-chat-pinned", hidden: true });
    // GET .../chat.csv with the session cookie: the browser saves the file (409 before the end, so shown only after it).
    this.csvLink = h("a", { class: "btn btn-quiet chat-csv", id: "chat-csv", hidden: true,
      href: `${panel.path}/chat.csv`, download: `${panel.slug}-chat.csv` }, TEXT.csv);
    const list = $("#chat");
    list.before(this.pinnedBox);
    list.after(this.form, this.csvLink);
  }

  /** The show's status changed: after the end no more posting, and the chat can be downloaded. */
  renderShow() {
    const ended = this.panel.state.show?.status === "ended";
    this.form.hidden = ended;
    this.csvLink.hidden = !ended;
  }

  /** Reply and Pin for one message of the panel's chat list (panel/chat.js's hook). */
  tools(m) {
    return [
      h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": t("panel.hostchat.reply_label", { name: m.name || t("panel.chat.viewer") }),
        onclick: () => this.startReply(m) }, TEXT.reply),
      h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": t("panel.hostchat.pin_label", { name: m.name || t("panel.chat.viewer") }),
        onclick: (e) => this.pin(m, e.currentTarget) }, TEXT.pin),
    ];
  }

  startReply(m) {
    this.replyTo = m;
    this.replyNote.replaceChildren(TEXT.replyingTo(m.name || "viewer"), " ",
      h("button", { type: "button", class: "btn btn-small btn-quiet", onclick: () => this.cancelReply() }, TEXT.cancel));
    this.replyNote.hidden = false;
    this.input.focus();
  }

  cancelReply() {
    this.replyTo = null;
    this.replyNote.hidden = true;
  }

  send() {
    const text = this.input.value.trim();
    if (!text) return undefined;
    const { api, path } = this.panel;
    const body = this.replyTo ? { text, reply_to: this.replyTo.id } : { text };
    return act(this.sendButton, async () => {
      const message = await api(`${path}/chat`, { method: "POST", body });
      this.input.value = ""; // cleared only once the server took it
      this.cancelReply();
      this.panel.apply({ type: "chat", ...message });
    }, TEXT.sent);
  }

  pin(m, button) {
    const { api, path } = this.panel;
    return act(button, async () => {
      const message = await api(`${path}/pinned-message`, { method: "PUT", body: { message_id: m.id } });
      this.panel.apply({ type: "chat_pin", message });
    }, TEXT.pinnedDone);
  }

  unpin(button) {
    const { api, path } = this.panel;
    return act(button, async () => {
      await api(`${path}/pinned-message`, { method: "DELETE" });
      this.panel.apply({ type: "chat_pin", message: null });
    }, TEXT.unpinnedDone);
  }

  render() {
    const message = this.panel.state.pinnedMessage;
    this.pinnedBox.hidden = !message;
    if (!message) return;
    this.pinnedBox.replaceChildren(h("strong", {}, TEXT.pinned), " ", `${message.name}: ${message.text}`, " ",
      h("button", { type: "button", class: "btn btn-small btn-quiet", id: "host-chat-unpin", onclick: (e) => this.unpin(e.currentTarget) },
        TEXT.unpin));
  }
}
