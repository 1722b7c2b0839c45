// The orders page's list of the buyer's conversations with sellers (docs/threads.md): each opens
// the thread's own page (/threads/{id}, by this browser's cookie), live there. Shown only when
// there is one.

import { api } from "./common/api.js";
import { t } from "./common/i18n.js";

const TEXT = {
  get title() { return t("thread.list_title"); },
  with: (seller) => t("thread.list_with", { seller }),
  unread: (n) => t("thread.list_unread", { n }),
};

const section = document.getElementById("my-threads");
if (section) {
  api("/api/threads").then(({ threads }) => {
    if (!threads.length) return;
    const title = document.createElement("h2");
    title.textContent = TEXT.title;
    const list = document.createElement("ul");
    list.className = "order-list";
    for (const thread of threads) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/threads/${encodeURIComponent(thread.id)}`;
      link.textContent = TEXT.with(thread.seller);
      item.append(link);
      if (thread.unread) {
        const unread = document.createElement("span");
        unread.className = "muted";
        unread.textContent = ` · ${TEXT.unread(thread.unread)}`;
        item.append(unread);
      }
      list.append(item);
    }
    section.replaceChildren(title, list);
    section.hidden = false;
  }).catch(() => { /* a nicety: the orders page works without it */ });
}
