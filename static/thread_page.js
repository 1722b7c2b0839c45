// The stand-alone thread page /threads/{id} (from a "you have a message" email's ?t= link, or
// opened with the buyer's own cookie from the receipt or the orders page). The server renders the
// thread (escaped); this module keeps it live: a socket to /ws/threads/{id} (docs/threads.md)
// brings the seller's answers and the read receipts from whichever process they happen on, and
// the reply form sends with the same key as the page (the link's token, or the cookie).

import { t } from "./common/i18n.js";
import { LiveSocket } from "./common/live.js";
import { drawMessages, markRead, messageItem } from "./common/thread_view.js";

const TEXT = {
  get sending() { return t("thread.sending"); },
  get sent() { return t("thread.sent_short"); },
  get failed() { return t("thread.could_not_send"); },
};

const page = document.getElementById("thread-page");
const threadId = page.dataset.threadId;
const key = page.dataset.token ? `?t=${encodeURIComponent(page.dataset.token)}` : "";
const list = document.getElementById("thread-messages");
const form = document.getElementById("thread-reply");
const closedNote = document.getElementById("thread-closed");
const how = { me: "buyer", sellerName: page.dataset.seller };
/** The thread's messages as last fetched, plus those that came live; null until the first fetch. */
let messages = null;
let pending = []; // what came live before the first fetch answered
let hostReadAt = 0;
// Counts the state frames seen: a fetch that was on its way when one came must not put back the
// state it read before (a close arriving while the page re-read the thread).
let stateFrames = 0;

function showState(thread) {
  const open = thread.status === "open" && !thread.blocked;
  if (form) form.hidden = !open;
  if (closedNote) closedNote.hidden = open;
  showReceipts(thread.host_read_at);
}

function showReceipts(readAt) {
  if (readAt > hostReadAt) {
    hostReadAt = readAt;
    if (messages) {
      markRead(messages, "buyer", hostReadAt);
      drawMessages(list, messages, how);
    }
  }
}

/** The thread again over HTTP: on every (re)connect, since private frames are not replayed.
 *  Reading it also marks the seller's messages read (their receipts turn on the panel). */
async function refresh() {
  const framesBefore = stateFrames;
  const answer = await fetch(`/api/threads/${encodeURIComponent(threadId)}${key}`, { credentials: "same-origin", cache: "no-store" });
  if (!answer.ok) return;
  const data = await answer.json();
  // Keep what came live while the fetch was on its way (it may have read the thread before).
  const byId = new Map(data.messages.map((m) => [m.id, m]));
  for (const m of [...(messages || []), ...pending]) if (!byId.has(m.id)) byId.set(m.id, m);
  pending = [];
  messages = [...byId.values()].sort((a, b) => a.id - b.id);
  markRead(messages, "buyer", Math.max(hostReadAt, data.thread.host_read_at));
  drawMessages(list, messages, how);
  if (stateFrames === framesBefore) showState(data.thread);
}

function add(message) {
  if (!messages) {
    pending.push(message);
    return;
  }
  if (messages.some((m) => m.id === message.id)) return;
  messages.push(message);
  list.append(messageItem(message, how));
  list.scrollTop = list.scrollHeight;
}

function onFrame(frame) {
  // A read receipt's thread is read before its request marks the messages read, so it can carry
  // a state older than a close sent meanwhile (CI: a read answered just before the host's close
  // reopened the form after it). Only its read time counts.
  if (frame.type === "thread_read") {
    showReceipts(frame.thread.host_read_at);
    return;
  }
  if (frame.thread) stateFrames += 1;
  if (frame.type === "thread") {
    // The socket's first frame (and a close or block later): the thread as it is now.
    showState(frame.thread);
    if (!page.dataset.live) refresh().catch(() => {});
    page.dataset.live = "open";
  } else if (frame.type === "thread_message") {
    add(frame.message);
    showState(frame.thread);
    if (frame.message.sender === "host" && document.visibilityState === "visible") {
      refresh().catch(() => {}); // the buyer sees it: that is the seller's read receipt
    }
  } else if (frame.type === "thread_erased") {
    // Erased (docs/privacy.md): the messages leave the screen too, and the link leads nowhere now.
    live.stop();
    messages = [];
    list.replaceChildren();
    showState({ status: "closed", blocked: false, host_read_at: 0 });
  }
}

const live = new LiveSocket(`/ws/threads/${encodeURIComponent(threadId)}${key}`, {
  onFrame,
  onStatus: (status) => {
    if (status !== "open") delete page.dataset.live; // the next first frame fetches what was missed
  },
});
live.start();

if (form) {
  const box = document.getElementById("thread-reply-text");
  const status = document.getElementById("thread-reply-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = TEXT.sending;
    const url = `/api/threads/${encodeURIComponent(threadId)}/messages${key}`;
    const answer = await fetch(url, {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: box.value }),
    }).catch(() => null);
    const body = answer ? await answer.json().catch(() => ({})) : {};
    if (!answer || !answer.ok) {
      status.textContent = TEXT.failed + ((body.error && body.error.message) || (answer ? answer.status : ""));
      return;
    }
    add(body.message);
    if (!messages) list.append(messageItem(body.message, how));
    box.value = "";
    status.textContent = TEXT.sent;
  });
}
