// One private thread on screen (docs/threads.md): its messages, with their cards and read
// receipts, drawn the same way in the viewer's "Ask privately" sheet and the panel's inbox. Text
// only ever goes in through textContent: a message with HTML in it shows the HTML as text.

import { t } from "./i18n.js";

/** The words this module writes, in the page's language (t(), static/i18n/*.json). */
export const THREAD_TEXT = {
  get you() { return t("thread.you"); },
  get seller() { return t("thread.seller"); },
  get buyer() { return t("thread.buyer"); },
  get read() { return t("thread.read"); },
  get sent() { return t("thread.sent"); },
  order: (number) => t("thread.order", { number }),
  held: (title, label) => t("thread.held", { title, size: label }),
  until: (when) => t("thread.until", { when }),
  get takeHold() { return t("thread.take_hold"); },
};

/**
 * @param {{id: number, sender: string, text: string, card: object|null, created_at: number, read: boolean}} message
 * @param {{me: "buyer"|"host", sellerName?: string, onTakeHold?: (card: object) => void, formatTime?: (ms: number) => string}} how
 *   sellerName: what the seller's messages are signed with (default "Seller")
 */
export function messageItem(message, how) {
  const item = document.createElement("li");
  item.className = `thread-message from-${message.sender}`;
  item.dataset.messageId = String(message.id);
  const who = document.createElement("span");
  who.className = "thread-who";
  const seller = how.sellerName || THREAD_TEXT.seller;
  who.textContent = message.sender === how.me ? THREAD_TEXT.you : (message.sender === "host" ? seller : THREAD_TEXT.buyer);
  const text = document.createElement("p");
  text.className = "thread-text";
  text.textContent = message.text;
  item.append(who, text);
  const card = message.card;
  if (card && card.kind === "order") {
    const link = document.createElement("a");
    link.className = "thread-card thread-order";
    link.href = `/orders/${encodeURIComponent(card.order_id)}`;
    link.textContent = THREAD_TEXT.order(card.number);
    item.append(link);
  } else if (card && card.kind === "product") {
    const label = document.createElement("span");
    label.className = "thread-card thread-product";
    label.textContent = card.title;
    item.append(label);
  } else if (card && card.kind === "hold") {
    const box = document.createElement("div");
    box.className = "thread-card thread-hold";
    const label = document.createElement("span");
    const when = how.formatTime ? how.formatTime(card.expires_at) : new Date(card.expires_at).toLocaleString();
    label.textContent = `${THREAD_TEXT.held(card.title, card.label)} ${THREAD_TEXT.until(when)}`;
    box.append(label);
    if (how.me === "buyer" && how.onTakeHold) {
      const take = document.createElement("button");
      take.type = "button";
      take.className = "button button-small thread-take-hold";
      take.textContent = THREAD_TEXT.takeHold;
      take.addEventListener("click", () => how.onTakeHold(card));
      box.append(take);
    }
    item.append(box);
  }
  if (message.sender === how.me) {
    const receipt = document.createElement("span");
    receipt.className = "thread-receipt";
    receipt.textContent = message.read ? THREAD_TEXT.read : THREAD_TEXT.sent;
    item.append(receipt);
  }
  return item;
}

/** Redraws a list of messages into `list` (an <ol>). */
export function drawMessages(list, messages, how) {
  list.replaceChildren(...messages.map((m) => messageItem(m, how)));
  list.scrollTop = list.scrollHeight;
}

/** The messages of `messages` with `readAt` applied: the other side read up to then. */
export function markRead(messages, me, readAt) {
  for (const m of messages) if (m.sender === me && m.created_at <= readAt) m.read = true;
}
