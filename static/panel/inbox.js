// The host's inbox on the show screen (docs/threads.md): private threads with buyers, live over the
// show's socket (thread_message frames reach only this host's panels), and beside the open thread
// what livedrop knows of that buyer at this shop (orders with their states, live holds, waiting-room
// entries, back-in-stock wishes, chat, mutes) with the actions a conversation needs: refund a line,
// put a size aside with a deadline, resend the order link. Above it, the response figure per week.

import { drawMessages, markRead } from "../common/thread_view.js";
import { formatMoney, formatPercent } from "../common/format.js";
import { h, clear, flash } from "./dom.js";
import { problem } from "./feedback.js";
import { t } from "../common/i18n.js";

/** The words this module writes, in the page's language (t(), static/i18n/*.json). */
const TEXT = {
  get title() { return t("inbox.title"); },
  get empty() { return t("inbox.empty"); },
  unread: (n) => (n ? t("inbox.unread", { n }) : ""),
  buyer: (id) => t("inbox.buyer", { id: id.slice(0, 8) }),
  get reply() { return t("inbox.reply"); },
  get send() { return t("inbox.send"); },
  get close() { return t("inbox.close"); }, get reopen() { return t("inbox.reopen"); },
  get block() { return t("inbox.block"); }, get unblock() { return t("inbox.unblock"); },
  get closed() { return t("inbox.closed"); }, get blocked() { return t("inbox.blocked"); },
  get beside() { return t("inbox.beside"); },
  get orders() { return t("inbox.orders"); }, get holds() { return t("inbox.holds"); }, get queue() { return t("inbox.queue"); },
  get wishes() { return t("inbox.wishes"); }, get chat() { return t("inbox.chat"); }, get mutes() { return t("inbox.mutes"); },
  get none() { return t("inbox.none"); },
  get refundLine() { return t("inbox.refund_line"); }, get resendLink() { return t("inbox.resend_link"); },
  get linkSent() { return t("inbox.link_sent"); },
  refunded: (number) => t("inbox.refunded", { number }),
  get offerHold() { return t("inbox.offer_hold"); }, get sku() { return t("inbox.sku"); }, get minutes() { return t("inbox.minutes"); },
  figure: (w) => (w.answered_12h_share === null ? t("inbox.figure_none")
    : t("inbox.figure", { percent: formatPercent(w.answered_12h_share) })
      + (w.median_first_answer_ms !== null ? t("inbox.figure_median", { n: Math.round(w.median_first_answer_ms / 60000) }) : "")),
  get newMessage() { return t("inbox.new_message"); },
  get write() { return t("inbox.write"); },
  writeLabel: (what) => t("inbox.write_label", { what }), // starts with the visible text (axe: label-content-name-mismatch)
  startingAbout: (what) => t("inbox.starting_about", { what }),
};

export class Inbox {
  constructor(panel) {
    this.panel = panel;
    this.threads = [];
    this.current = null; // {thread, messages}
    this.starting = null; // the body of POST /api/inbox waiting for its text (from an order or a chat line)
    this.figure = h("p", { class: "small muted", id: "inbox-figure" });
    this.list = h("ul", { class: "inbox-threads", id: "inbox-threads" });
    this.log = h("ol", { class: "thread-messages", id: "inbox-messages" });
    this.text = h("textarea", { id: "inbox-text", maxlength: "2000", rows: "2", "aria-label": TEXT.reply });
    this.form = h("form", { id: "inbox-form", hidden: true, onsubmit: (e) => { e.preventDefault(); this.send(); } },
      this.text, h("button", { type: "submit", class: "btn btn-small", id: "inbox-send" }, TEXT.send));
    this.stateBar = h("div", { class: "inbox-state", id: "inbox-state" });
    this.side = h("div", { class: "inbox-beside", id: "inbox-beside" });
    this.section = h("section", { class: "card inbox", id: "inbox", "aria-label": TEXT.title },
      h("h2", {}, TEXT.title), this.figure, this.list,
      h("div", { class: "inbox-open" }, this.stateBar, this.log, this.form), this.side);
    document.head.append(h("link", { rel: "stylesheet", href: "/static/panel/inbox.css" }));
    document.getElementById("show-screen").append(this.section);
  }

  async start() {
    await Promise.all([this.refresh(), this.refreshFigure()]);
  }

  async refresh() {
    try {
      this.threads = (await this.panel.api("/api/inbox")).threads;
      this.renderList();
    } catch (err) {
      flash(problem(err));
    }
  }

  async refreshFigure() {
    try {
      const { weeks } = await this.panel.api("/api/inbox/figures");
      this.figure.textContent = TEXT.figure(weeks[0]);
    } catch { /* the figure is a nicety: the inbox works without it */ }
  }

  renderList() {
    clear(this.list);
    if (!this.threads.length) this.list.append(h("li", { class: "muted" }, TEXT.empty));
    for (const t of this.threads) {
      const label = `${TEXT.buyer(t.buyer_id)}${TEXT.unread(t.unread)}${t.status === "closed" ? ` · ${TEXT.closed}` : ""}${t.blocked ? ` · ${TEXT.blocked}` : ""}`;
      this.list.append(h("li", {}, h("button", { type: "button", class: "linklike inbox-thread", dataset: { threadId: t.id },
        "aria-current": this.current && this.current.thread.id === t.id ? "true" : null, onclick: () => this.open(t.id) }, label)));
    }
  }

  async open(threadId) {
    try {
      this.current = await this.panel.api(`/api/inbox/${encodeURIComponent(threadId)}`);
      const t = this.threads.find((x) => x.id === threadId);
      if (t) t.unread = 0;
      this.renderList();
      this.renderThread();
      await this.renderBeside();
    } catch (err) {
      flash(problem(err));
    }
  }

  renderThread() {
    const { thread, messages } = this.current;
    drawMessages(this.log, messages, { me: "host" });
    this.form.hidden = thread.blocked;
    clear(this.stateBar);
    const act = (action, label) => h("button", { type: "button", class: "btn btn-small btn-quiet", id: `inbox-${action}`,
      onclick: () => this.setState(action) }, label);
    this.stateBar.append(thread.status === "open" ? act("close", TEXT.close) : act("reopen", TEXT.reopen),
      thread.blocked ? act("unblock", TEXT.unblock) : act("block", TEXT.block));
  }

  async renderBeside() {
    const id = this.current.thread.id;
    const data = await this.panel.api(`/api/inbox/${encodeURIComponent(id)}/buyer`);
    clear(this.side);
    const group = (title, items, draw) => h("div", { class: "inbox-group" }, h("h3", {}, title),
      items.length ? h("ul", {}, items.map((x) => h("li", {}, draw(x)))) : h("p", { class: "small muted" }, TEXT.none));
    this.side.append(h("h3", {}, TEXT.beside),
      group(TEXT.orders, data.orders || [], (o) => [
        `${o.number} · ${o.status} · ${formatMoney(o.total_cents, o.currency)} `,
        ...o.lines.filter((l) => l.quantity > l.refunded_quantity && ["paid", "fulfilled", "delivered", "partially_refunded"].includes(o.status))
          .map((l) => h("button", { type: "button", class: "btn btn-small btn-quiet inbox-refund", onclick: () => this.refundLine(o, l) },
            `${TEXT.refundLine} ${l.label}`)),
        h("button", { type: "button", class: "btn btn-small btn-quiet inbox-order-link", onclick: () => this.resendLink(o) }, TEXT.resendLink),
      ]),
      group(TEXT.holds, data.holds || [], (x) => `${x.sku} × ${x.quantity} · ${new Date(x.expires_at).toLocaleString()}`),
      group(TEXT.queue, data.queue_entries || [], (x) => `${x.show_slug} · ${x.entry_id}`),
      group(TEXT.wishes, data.wishes || [], (x) => `${x.sku} · ${x.state}`),
      group(TEXT.chat, (data.chat || []).slice(-10), (x) => `${x.show_slug}: ${x.text}`),
      group(TEXT.mutes, data.mutes || [], (x) => x.show_slug),
      this.holdForm());
  }

  holdForm() {
    const sku = h("input", { id: "inbox-hold-sku", required: true, maxlength: "64", "aria-label": TEXT.sku, placeholder: TEXT.sku });
    const minutes = h("input", { id: "inbox-hold-minutes", type: "number", min: "1", max: "2880", value: "60", "aria-label": TEXT.minutes });
    return h("form", { class: "inbox-hold", id: "inbox-hold", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const posted = await this.panel.api(`/api/inbox/${encodeURIComponent(this.current.thread.id)}/hold-offers`, {
          method: "POST", body: { sku: sku.value.trim(), hold_s: Math.max(60, Number(minutes.value) * 60) } });
        this.add(posted.thread, posted.message);
        await this.renderBeside();
      } catch (err) {
        flash(problem(err));
      }
    } }, sku, minutes, h("button", { type: "submit", class: "btn btn-small", id: "inbox-hold-send" }, TEXT.offerHold));
  }

  /** A "Message" button for another area of the screen (an order row, a chat line): writing
   * first to that buyer. `target`: {order_id} or {show_slug, chat_message_id}. */
  writeButton(target, what) {
    return h("button", { type: "button", class: "btn btn-small btn-quiet inbox-write", "aria-label": TEXT.writeLabel(what),
      onclick: () => this.startWith(target, what) }, TEXT.write);
  }

  startWith(target, what) {
    this.starting = target;
    this.current = null;
    clear(this.log);
    clear(this.side);
    clear(this.stateBar);
    this.stateBar.append(h("p", { class: "small" }, TEXT.startingAbout(what)));
    this.form.hidden = false;
    this.section.scrollIntoView({ block: "nearest" });
    this.text.focus();
  }

  async send() {
    const text = this.text.value.trim();
    if (text && this.starting) {
      try {
        const posted = await this.panel.api("/api/inbox", { method: "POST", body: { ...this.starting, text } });
        this.starting = null;
        this.text.value = "";
        await this.refresh();
        await this.open(posted.thread.id);
      } catch (err) {
        flash(problem(err));
      }
      return;
    }
    if (!text || !this.current) return;
    try {
      const posted = await this.panel.api(`/api/inbox/${encodeURIComponent(this.current.thread.id)}/messages`, { method: "POST", body: { text } });
      this.text.value = "";
      this.add(posted.thread, posted.message);
    } catch (err) {
      flash(problem(err));
    }
  }

  async setState(action) {
    try {
      this.current.thread = await this.panel.api(`/api/inbox/${encodeURIComponent(this.current.thread.id)}/state`, { method: "POST", body: { action } });
      this.renderThread();
      await this.refresh();
    } catch (err) {
      flash(problem(err));
    }
  }

  async refundLine(order, line) {
    try {
      await this.panel.api(`/api/orders/${encodeURIComponent(order.order_id)}/refund`, {
        method: "POST", body: { lines: [{ line_id: line.line_id, quantity: 1 }] }, headers: { "Idempotency-Key": crypto.randomUUID() } });
      flash(TEXT.refunded(order.number), "ok");
      await this.renderBeside();
    } catch (err) {
      flash(problem(err));
    }
  }

  async resendLink(order) {
    try {
      await this.panel.api(`/api/inbox/${encodeURIComponent(this.current.thread.id)}/order-link`, { method: "POST", body: { order_id: order.order_id } });
      flash(TEXT.linkSent, "ok");
    } catch (err) {
      flash(problem(err));
    }
  }

  add(thread, message) {
    if (!this.current || this.current.thread.id !== thread.id) return;
    this.current.thread = thread;
    if (!this.current.messages.some((m) => m.id === message.id)) this.current.messages.push(message);
    this.renderThread();
  }

  /** A private frame from the show's socket. */
  frame(frame) {
    if (frame.type === "thread_message") {
      const open = this.current && this.current.thread.id === frame.thread.id;
      if (open) {
        this.add(frame.thread, frame.message);
        if (frame.message.sender === "buyer") this.panel.api(`/api/inbox/${encodeURIComponent(frame.thread.id)}`).catch(() => {});
      }
      if (frame.message.sender === "buyer" && !open) flash(TEXT.newMessage, "ok");
      this.refresh();
      this.refreshFigure();
    } else if (frame.type === "thread_read" && this.current && this.current.thread.id === frame.thread.id) {
      markRead(this.current.messages, "host", frame.thread.buyer_read_at);
      this.renderThread();
    } else if (frame.type === "thread") {
      this.refresh();
    } else if (frame.type === "thread_erased") { // the buyer's data was erased: nothing of it stays on screen
      if (this.current && this.current.thread.id === frame.thread.id) {
        this.current = null;
        clear(this.log);
        clear(this.side);
        clear(this.stateBar);
        this.form.hidden = true;
      }
      this.threads = this.threads.filter((x) => x.id !== frame.thread.id);
      this.renderList();
      this.refresh();
    }
  }
}
