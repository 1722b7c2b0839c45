// Chat moderation: the show's messages as they arrive, each with Delete (for everyone) and Mute
// (the buyer can no longer chat in this show). Messages come from the shared show state; this
// keeps the list in step with it without redrawing what is already there (a host may be about to
// click a button in it).

import { formatClockTime } from "../common/format.js";
import { $, h } from "./dom.js";
import { act } from "./feedback.js";
import { t } from "../common/i18n.js";

const NEAR_BOTTOM_PX = 40;

export class Chat {
  constructor(panel) {
    this.panel = panel;
    this.list = $("#chat");
    this.muted = new Set(); // buyer ids muted from this screen
  }

  render() {
    const messages = this.panel.state.chat;
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < NEAR_BOTTOM_PX;
    const have = new Map([...this.list.querySelectorAll("li[data-message-id]")].map((li) => [li.dataset.messageId, li]));
    const wanted = new Set(messages.map((m) => String(m.id)));
    for (const [id, li] of have) if (!wanted.has(id)) li.remove();
    let previous = null; // messages keep the state's order, even when a fresh snapshot brings older ones
    for (const m of messages) {
      let li = have.get(String(m.id));
      if (!li) {
        li = this.item(m);
        if (previous) previous.after(li);
        else this.list.prepend(li);
      }
      previous = li;
    }
    const note = this.list.querySelector(".empty");
    if (!messages.length && !note) this.list.append(h("li", { class: "muted small empty" }, t("panel.chat.empty")));
    if (messages.length && note) note.remove();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  item(m) {
    const who = m.name || t("panel.chat.viewer");
    const tools = h("div", { class: "tools" },
      h("button", { type: "button", class: "btn btn-small", "aria-label": t("panel.chat.delete_label", { name: who }),
        onclick: (e) => this.remove(m, e.currentTarget) }, t("panel.chat.delete")));
    if (this.panel.hostChat) tools.prepend(...this.panel.hostChat.tools(m)); // Reply, Pin (panel/host_chat.js)
    if (this.muted.has(m.buyer_id)) tools.append(h("span", { class: "muted-note" }, t("panel.chat.muted")));
    else tools.append(h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": t("panel.chat.mute_label", { name: m.name || t("panel.chat.this_viewer") }),
      onclick: (e) => this.mute(m, e.currentTarget) }, t("panel.chat.mute")));
    if (this.panel.inbox) tools.prepend(this.panel.inbox.writeButton({ show_slug: this.panel.slug, chat_message_id: m.id }, t("inbox.what_chat_line"))); // docs/threads.md
    return h("li", { dataset: { messageId: m.id, buyerId: m.buyer_id } },
      h("div", {}, m.role ? h("span", { class: "badge" }, m.role === "host" ? t("panel.chat.badge_host") : t("panel.chat.badge_mod")) : null,
        h("span", { class: "name" }, who), h("span", { class: "muted small" }, formatClockTime(m.ts))),
      h("div", { class: "text" }, m.text),
      tools);
  }

  remove(m, button) {
    const { api, path } = this.panel;
    return act(button, async () => {
      await api(`${path}/chat/${m.id}`, { method: "DELETE" });
      this.panel.apply({ type: "chat_deleted", id: m.id }); // gone here at once; the frame follows
    }, t("panel.chat.deleted"));
  }

  mute(m, button) {
    const { api, path } = this.panel;
    const who = m.name || t("panel.chat.viewer");
    return act(button, async () => {
      await api(`${path}/mutes`, { method: "POST", body: { buyer_id: m.buyer_id } });
      this.muted.add(m.buyer_id);
      // Every message of that buyer says so (there is no frame for a mute: only this screen knows).
      for (const li of this.list.querySelectorAll("li[data-buyer-id]")) {
        if (li.dataset.buyerId !== m.buyer_id) continue;
        const mute = li.querySelector(".tools button:last-child");
        if (mute && mute.textContent === t("panel.chat.mute")) mute.replaceWith(h("span", { class: "muted-note" }, t("panel.chat.muted")));
      }
    }, t("panel.chat.muted_in_show", { name: who }));
  }
}
