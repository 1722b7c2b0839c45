// Chat (read, write, display name), reactions, the viewer count and the purchase ticker.

import { api, ApiError } from "../common/api.js";
import { formatCount } from "../common/format.js";
import { byId, el, reducedMotion, setText, show } from "./dom.js";
import { t } from "../common/i18n.js";
import { reactionIcon } from "./icons.js";
import { chatExtras } from "./host_chat.js";

// The server accepts exactly these (live/presence.py REACTIONS).
const REACTIONS = [["❤️", () => t("reaction.love")], ["🔥", () => t("reaction.fire")], ["😂", () => t("reaction.laughing")],
  ["😮", () => t("reaction.wow")], ["👏", () => t("reaction.applause")], ["👍", () => t("reaction.thumbs_up")]];
const FLOATS_PER_FRAME = 6;
const TICKER_MS = 4000;

const CHAT_ERROR_MS = 6000; // a refusal's sentence goes after 6 s (the 10 s rate window is then mostly over)
// Lines longer than this many characters are clamped to two lines; a tap shows the whole line.
const CLAMP_CHARS = 90;
const TEXT = {
  chattingAs: (name) => t("chat.as", { name }),
  guestName: (buyerId) => `viewer-${buyerId.slice(0, 4)}`, // what the server calls an unnamed buyer (live/chat.py)
  get guest() { return t("chat.as_guest"); },
  get expand() { return t("chat.expand"); },
};

const CHAT_ERRORS = {
  rate_limited: () => t("chat.rate_limited"),
  muted: () => t("chat.muted"),
  chat_too_long: () => t("chat.too_long"),
  malformed_frame: () => t("chat.malformed"),
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
    this.sentText = null; // the line sent and not yet seen back: it stays in the input until then
    this._errorTimer = null;
    this._shownReactions = null;
    this._tickerQueue = [];
    this._tickerTimer = null;

    const bar = byId("reactions");
    for (const [emoji, nameOf] of REACTIONS) {
      const name = nameOf();
      const button = el("button", { type: "button", className: "reaction", "aria-label": t("reaction.send", { name }), title: name },
        reactionIcon(emoji, 26));
      button.addEventListener("click", () => this.react(emoji));
      bar.append(button);
    }
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.nameEdit.addEventListener("click", () => this.toggleName());
    // A clamped long line opens on a tap (or Enter), and closes on the next.
    const toggleLine = (event) => {
      const line = event.target.closest(".chat-line.clamped");
      if (!line) return;
      const open = !line.classList.contains("expanded");
      line.classList.toggle("expanded", open);
      line.setAttribute("aria-expanded", String(open));
    };
    this.log.addEventListener("click", toggleLine);
    this.log.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        if (event.target.closest(".chat-line.clamped")) event.preventDefault();
        toggleLine(event);
      }
    });
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
      const extras = chatExtras(message); // the host's badge and a reply's quote (host_chat.js)
      const long = message.text.length > CLAMP_CHARS;
      const line = el("li", { className: `chat-line${mine ? " mine" : ""}${long ? " clamped" : ""}`, dataset: { id: message.id } },
        extras.quote || null,
        extras.badge || null,
        el("span", { className: "chat-name" }, message.name || t("chat.viewer")),
        " ",
        el("span", { className: "chat-text" }, message.text));
      if (long) {
        line.tabIndex = 0;
        line.title = TEXT.expand;
        line.setAttribute("aria-expanded", "false");
      }
      this.log.append(line);
      if (mine && this.sentText !== null && message.text === this.sentText) this._accepted();
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
    // The text stays in the input until the server sends it back as a chat line (_accepted): a
    // refused line (too fast, muted, offline) is not lost.
    this.sentText = text;
    if (!this.viewer.buyer.id) {
      this.pendingChat = text;
      try {
        await this.viewer.ensureBuyer(); // reconnects the socket with the new cookie, then sends
      } catch {
        this._chatError(t("chat.setup_failed"));
      }
      return;
    }
    if (!this.viewer.live.send({ type: "chat", text })) {
      this._chatError(t("chat.reconnecting"));
    }
  }

  /** The server published our line: now the input may be emptied (unless typing went on). */
  _accepted() {
    if (this.input.value.trim() === this.sentText) this.input.value = "";
    this.sentText = null;
    this._chatError("");
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
      this._chatError(t("chat.setting_up"));
      this.viewer.ensureBuyer().catch(() => {});
      return;
    }
    this._chatError(CHAT_ERRORS[frame.code] ? CHAT_ERRORS[frame.code]() : t("chat.not_sent"));
  }

  _chatError(text) {
    show(this.error, Boolean(text));
    setText(this.error, text);
    clearTimeout(this._errorTimer);
    if (text) this._errorTimer = setTimeout(() => this._chatError(""), CHAT_ERROR_MS);
  }

  // -- display name ----------------------------------------------------------------------------

  renderName() {
    const { name, id } = this.viewer.buyer;
    // Unnamed, the server shows this buyer's lines as "viewer-xxxx": the page says the same.
    setText(this.chatAs, name ? TEXT.chattingAs(name) : id ? TEXT.chattingAs(TEXT.guestName(id)) : TEXT.guest);
    setText(this.nameEdit, name ? t("chat.change_name") : t("chat.set_name"));
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
        ? t("chat.name_too_long") : t("chat.name_failed"));
      return;
    }
    this.renderName();
    this.toggleName(false);
    this.viewer.announce(t("chat.now_as", { name: this.viewer.buyer.name }));
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
    this.viewerCount.title = t("viewers.watching_now", { n });
  }

  sold(frame) {
    const label = this.viewer.state.label(frame.sku);
    const who = typeof frame.name === "string" && frame.name ? frame.name : t("ticker.someone");
    const what = this.viewer.state.variant(frame.sku) ? t("ticker.item", { title: this.viewer.state.pinned.title, size: label }) : label;
    this._tickerQueue.push(t("ticker.bought", { who, what }));
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
