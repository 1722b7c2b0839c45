// Chat (read, write, display name), reactions, the viewer count and the purchase ticker.

import { api, ApiError } from "../common/api.js";
import { formatCount } from "../common/format.js";
import { byId, el, reducedMotion, setText, show } from "./dom.js";
import { reactionIcon } from "./icons.js";

// The server accepts exactly these (live/presence.py REACTIONS).
const REACTIONS = [["❤️", "love"], ["🔥", "fire"], ["😂", "laughing"], ["😮", "wow"], ["👏", "applause"], ["👍", "thumbs up"]];
const FLOATS_PER_FRAME = 6;
const TICKER_MS = 4000;

const CHAT_ERRORS = {
  rate_limited: "You're sending messages quickly. Wait a few seconds, then send again.",
  muted: "The host has turned off chat for you in this show.",
  chat_too_long: "That message is too long: keep it under 280 characters.",
  malformed_frame: "That message couldn't be sent. Type something, then press Send.",
};

export class Social {
  constructor(viewer) {
    this.viewer = viewer;
    this.log = byId("chat-log");
    this.form = byId("chat-form");
    this.input = byId("chat-text");
    this.error = byId("chat-error");
    this.chatAs = byId("chat-as");
    this.nameEdit = byId("name-edit");
    this.nameForm = byId("name-form");
    this.nameInput = byId("name-input");
    this.viewerNumber = byId("viewer-number");
    this.viewerCount = byId("viewer-count");
    this.ticker = byId("ticker");
    this.floats = byId("reaction-floats");
    this.pendingChat = null; // a line typed before this page had a buyer; sent once it has
    this._shownReactions = null;
    this._tickerQueue = [];
    this._tickerTimer = null;

    const bar = byId("reactions");
    for (const [emoji, name] of REACTIONS) {
      const button = el("button", { type: "button", className: "reaction", "aria-label": `Send ${name}`, title: name },
        reactionIcon(emoji, 26));
      button.addEventListener("click", () => this.react(emoji));
      bar.append(button);
    }
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.nameEdit.addEventListener("click", () => this.toggleName());
    this.nameForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveName();
    });
  }

  // -- chat ------------------------------------------------------------------------------------

  renderChat() {
    const { state, buyer } = this.viewer;
    const nearBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    const have = new Map([...this.log.children].map((li) => [li.dataset.id, li]));
    const wanted = new Set(state.chat.map((m) => String(m.id)));
    for (const [id, li] of have) if (!wanted.has(id)) li.remove();
    for (const message of state.chat) {
      if (have.has(String(message.id))) continue;
      const mine = buyer.id && message.buyer_id === buyer.id;
      this.log.append(
        el("li", { className: mine ? "chat-line mine" : "chat-line", dataset: { id: message.id } },
          el("span", { className: "chat-name" }, message.name || "viewer"),
          " ",
          el("span", { className: "chat-text" }, message.text)),
      );
    }
    if (nearBottom) this.log.scrollTop = this.log.scrollHeight;
  }

  async send() {
    const text = this.input.value.trim();
    if (!text) {
      this.input.focus();
      return;
    }
    this._chatError("");
    if (!this.viewer.buyer.id) {
      this.pendingChat = text;
      try {
        await this.viewer.ensureBuyer(); // reconnects the socket with the new cookie, then sends
      } catch {
        this._chatError("We couldn't set you up to chat. Check your connection and try again.");
      }
      this.input.value = "";
      return;
    }
    if (!this.viewer.live.send({ type: "chat", text })) {
      this._chatError("Reconnecting… your message wasn't sent. Try again in a moment.");
      return;
    }
    this.input.value = "";
  }

  /** The socket is open (again): send a line typed while it had no buyer. */
  connected() {
    if (this.pendingChat && this.viewer.buyer.id) {
      const text = this.pendingChat;
      this.pendingChat = null;
      this.viewer.live.send({ type: "chat", text });
    }
  }

  /** An error frame from the server. */
  refused(frame) {
    if (frame.code === "not_signed_in") {
      this.viewer.buyer.id = null;
      this._chatError("Setting you up to chat… send your message again in a moment.");
      this.viewer.ensureBuyer().catch(() => {});
      return;
    }
    this._chatError(CHAT_ERRORS[frame.code] || "That couldn't be sent. Try again.");
  }

  _chatError(text) {
    show(this.error, Boolean(text));
    setText(this.error, text);
  }

  // -- display name ----------------------------------------------------------------------------

  renderName() {
    const name = this.viewer.buyer.name;
    setText(this.chatAs, name ? `Chatting as ${name}` : "Chatting as a guest");
    setText(this.nameEdit, name ? "Change name" : "Set a name");
  }

  toggleName(open = this.nameForm.hidden) {
    show(this.nameForm, open);
    this.nameEdit.setAttribute("aria-expanded", String(open));
    if (open) {
      this.nameInput.value = this.viewer.buyer.name || "";
      this.nameInput.focus();
    } else {
      this.nameEdit.focus();
    }
  }

  async saveName() {
    const name = this.nameInput.value.trim();
    if (!name) {
      this.nameInput.focus();
      return;
    }
    try {
      if (this.viewer.buyer.id) {
        const me = await api("/api/buyers/me", { method: "PATCH", body: { name } });
        this.viewer.buyer.name = me.name;
      } else {
        await this.viewer.ensureBuyer(name);
      }
    } catch (err) {
      this._chatError(err instanceof ApiError && err.code === "invalid_request"
        ? "Names can be up to 40 characters." : "We couldn't save your name. Try again.");
      return;
    }
    this.renderName();
    this.toggleName(false);
    this.viewer.announce(`You're now chatting as ${this.viewer.buyer.name}.`);
  }

  // -- reactions, viewers, ticker -----------------------------------------------------------------

  react(emoji) {
    this.viewer.live.send({ type: "react", emoji });
    this._float(emoji);
  }

  renderReactions() {
    const totals = this.viewer.state.reactions;
    if (this._shownReactions) {
      let budget = FLOATS_PER_FRAME;
      for (const [emoji, total] of Object.entries(totals)) {
        const more = Math.min(budget, total - (this._shownReactions[emoji] || 0));
        for (let i = 0; i < more; i += 1) this._float(emoji);
        budget -= Math.max(0, more);
      }
    }
    this._shownReactions = { ...totals };
  }

  _float(emoji) {
    if (reducedMotion() || this.floats.childElementCount > 20) return;
    const node = el("span", { className: "float" }, reactionIcon(emoji, 28));
    node.style.setProperty("--drift", `${Math.round(Math.random() * 24 - 12)}px`);
    node.addEventListener("animationend", () => node.remove());
    this.floats.append(node);
  }

  renderViewers() {
    const n = this.viewer.state.viewers;
    setText(this.viewerNumber, formatCount(n));
    this.viewerCount.title = `${n} watching now`;
  }

  sold(frame) {
    const label = this.viewer.state.label(frame.sku);
    const who = typeof frame.name === "string" && frame.name ? frame.name : "Someone";
    const what = this.viewer.state.variant(frame.sku) ? `${this.viewer.state.pinned.title}, ${label}` : label;
    this._tickerQueue.push(`${who} just bought ${what}`);
    if (this._tickerQueue.length > 3) this._tickerQueue.splice(0, this._tickerQueue.length - 3);
    if (!this._tickerTimer) this._nextTicker();
  }

  _nextTicker() {
    const text = this._tickerQueue.shift();
    if (!text) {
      show(this.ticker, false);
      this._tickerTimer = null;
      return;
    }
    setText(this.ticker, text);
    show(this.ticker, true);
    this._tickerTimer = setTimeout(() => this._nextTicker(), TICKER_MS);
  }
}
