// Chat moderation: the show's messages as they arrive, each with Delete (for everyone) and Mute
// (the buyer can no longer chat in this show). Messages come from the shared show state; this
// keeps the list in step with it without redrawing what is already there (a host may be about to
// click a button in it).

import { formatClockTime } from "../common/format.js";
import { $, h } from "./dom.js";
import { act } from "./feedback.js";

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
    if (!messages.length && !note) this.list.append(h("li", { class: "muted small empty" }, "No messages yet."));
    if (messages.length && note) note.remove();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  item(m) {
    const who = m.name || "viewer";
    const tools = h("div", { class: "tools" },
      h("button", { type: "button", class: "btn btn-small", "aria-label": `Delete message from ${who}`,
        onclick: (e) => this.remove(m, e.currentTarget) }, "Delete"));
    if (this.muted.has(m.buyer_id)) tools.append(h("span", { class: "muted-note" }, "muted"));
    else tools.append(h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": `Mute ${m.name || "this viewer"}`,
      onclick: (e) => this.mute(m, e.currentTarget) }, "Mute"));
    return h("li", { dataset: { messageId: m.id, buyerId: m.buyer_id } },
      h("div", {}, h("span", { class: "name" }, who), h("span", { class: "muted small" }, formatClockTime(m.ts))),
      h("div", { class: "text" }, m.text),
      tools);
  }

  remove(m, button) {
    const { api, path } = this.panel;
    return act(button, async () => {
      await api(`${path}/chat/${m.id}`, { method: "DELETE" });
      this.panel.apply({ type: "chat_deleted", id: m.id }); // gone here at once; the frame follows
    }, "Message deleted.");
  }

  mute(m, button) {
    const { api, path } = this.panel;
    const who = m.name || "viewer";
    return act(button, async () => {
      await api(`${path}/mutes`, { method: "POST", body: { buyer_id: m.buyer_id } });
      this.muted.add(m.buyer_id);
      // Every message of that buyer says so (there is no frame for a mute: only this screen knows).
      for (const li of this.list.querySelectorAll("li[data-buyer-id]")) {
        if (li.dataset.buyerId !== m.buyer_id) continue;
        const mute = li.querySelector(".tools button:last-child");
        if (mute && mute.textContent === "Mute") mute.replaceWith(h("span", { class: "muted-note" }, "muted"));
      }
    }, `${who} is muted in this show.`);
  }
}
