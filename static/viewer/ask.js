// "Ask privately" on the viewer page (docs/threads.md): a private thread with the show's host
// about the product on screen. Answers arrive live over the page's socket (thread_message frames,
// only to this buyer's pages); a hold the host offers in the thread can be taken and paid right here
// through the page's own checkout sheet (viewer/buying.js).

import { api, ApiError } from "../common/api.js";
import { drawMessages, markRead } from "../common/thread_view.js";
import { el } from "./dom.js";
import { t } from "../common/i18n.js";

/** The words this module writes, in the page's language (t(), static/i18n/*.json). */
const TEXT = {
  get open() { return t("ask.open"); },
  get title() { return t("ask.title"); },
  about: (title) => t("ask.about", { title }),
  get placeholder() { return t("ask.placeholder"); },
  get send() { return t("ask.send"); },
  get close() { return t("ask.close"); },
  get sending() { return t("thread.sending"); },
  get newAnswer() { return t("ask.new_answer"); },
  errors: {
    get message_too_long() { return t("thread.error.too_long"); },
    get thread_closed() { return t("thread.error.closed"); },
    get blocked() { return t("thread.error.blocked"); },
    get rate_limited() { return t("thread.error.rate_limited"); },
    get network() { return t("thread.error.network"); },
  },
  get failed() { return t("thread.failed"); },
};

export class Ask {
  constructor(viewer) {
    this.viewer = viewer;
    this.thread = null;
    this.messages = [];
    this.openButton = el("button", { type: "button", className: "button button-small ask-open", id: "ask-open" }, TEXT.open);
    this.list = el("ol", { className: "thread-messages", id: "ask-messages", "aria-live": "polite" });
    this.about = el("p", { className: "ask-about muted", id: "ask-about" });
    this.text = el("textarea", { id: "ask-text", maxLength: 2000, rows: 3, placeholder: TEXT.placeholder });
    this.status = el("p", { className: "ask-status", id: "ask-status", role: "status" });
    this.form = el("form", { className: "ask-form", id: "ask-form" }, this.text,
      el("button", { type: "submit", className: "button button-small", id: "ask-send" }, TEXT.send));
    const closer = el("button", { type: "button", className: "button button-quiet button-small", id: "ask-close" }, TEXT.close);
    this.dialog = el("dialog", { className: "ask-sheet", id: "ask-sheet", "aria-label": TEXT.title },
      el("h2", {}, TEXT.title), this.about, this.list, this.form, this.status, closer);
    document.head.append(el("link", { rel: "stylesheet", href: "/static/viewer/ask.css" }));
    document.getElementById("viewer").append(this.openButton, this.dialog);
    this.openButton.addEventListener("click", () => this.open());
    closer.addEventListener("click", () => this.dialog.close());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
  }

  /** The product on screen: what a new question is about. */
  _product() {
    return this.viewer.state.pinned || null;
  }

  async open() {
    const product = this._product();
    this.about.textContent = product ? TEXT.about(product.title) : "";
    this.dialog.show();
    this.text.focus();
    await this.refresh();
  }

  /** This buyer's thread with this show's host, if there is one yet. */
  async refresh() {
    try {
      const { threads } = await api(`/api/threads?show_slug=${encodeURIComponent(this.viewer.slug)}`);
      const thread = threads[0];
      if (!thread) return;
      const read = await api(`/api/threads/${encodeURIComponent(thread.id)}`);
      this.thread = read.thread;
      // Merged by id: a message sent or received while this was on its way stays.
      const byId = new Map([...this.messages, ...read.messages].map((m) => [m.id, m]));
      this.messages = [...byId.values()].sort((a, b) => a.id - b.id);
      this._draw();
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) this.status.textContent = TEXT.failed;
    }
  }

  async send() {
    const text = this.text.value.trim();
    if (!text) return;
    this.status.textContent = TEXT.sending;
    try {
      await this.viewer.ensureBuyer();
      const product = this._product();
      const posted = this.thread
        ? await api(`/api/threads/${encodeURIComponent(this.thread.id)}/messages`, { method: "POST", body: { text } })
        : await api("/api/threads", { method: "POST", body: { text, show_slug: this.viewer.slug, ...(product ? { product_id: product.id } : {}) } });
      this.thread = posted.thread;
      this._add(posted.message);
      this.text.value = "";
      this.status.textContent = "";
    } catch (err) {
      this.status.textContent = (err instanceof ApiError && TEXT.errors[err.code]) || TEXT.failed;
    }
  }

  /** A private frame from the page's socket (thread_message, thread_read, thread). */
  frame(frame) {
    if (this.thread && frame.thread && frame.thread.id !== this.thread.id) return;
    if (frame.type === "thread_erased") { // erased (docs/privacy.md): the next question starts afresh
      this.thread = null;
      this.messages = [];
      this._draw();
      return;
    }
    if (frame.type === "thread_read") { // its thread may predate a close sent meanwhile: only the read time counts
      markRead(this.messages, "buyer", frame.thread.host_read_at);
      this._draw();
      return;
    }
    this.thread = frame.thread || this.thread;
    if (frame.type === "thread_message") {
      this._add(frame.message);
      if (frame.message.sender === "host") {
        this.viewer.announce(TEXT.newAnswer);
        if (!this.dialog.open) this.openButton.classList.add("has-news");
        if (this.dialog.open) api(`/api/threads/${encodeURIComponent(this.thread.id)}`).catch(() => {}); // read receipt
      }
    }
  }

  _add(message) {
    if (this.messages.some((m) => m.id === message.id)) return;
    this.messages.push(message);
    this._draw();
  }

  _draw() {
    drawMessages(this.list, this.messages, { me: "buyer", onTakeHold: (card) => this.takeHold(card) });
    if (this.dialog.open) this.openButton.classList.remove("has-news");
  }

  /** The host's hold offer: the page's checkout sheet takes it from here. */
  takeHold(card) {
    this.dialog.close();
    this.viewer.buying.setHold({
      hold_id: card.hold_id, sku: card.sku, quantity: 1, price_cents: card.price_cents, currency: card.currency,
      expires_at: card.expires_at, product_id: card.product_id, offer_id: null, state: "held",
    });
    this.viewer.buying.openCheckout();
  }
}
