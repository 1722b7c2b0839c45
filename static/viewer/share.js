// Share: the topbar's share button (and the scheduled page's). The Web Share API where the phone
// has it (the system's sheet: messages, apps), else the link is copied and the page says so.

import { byId, setText, show } from "./dom.js";
import { t } from "../common/i18n.js";

// User-facing strings of this module, in one place, in the page's language (t(), static/i18n/*.json).
const TEXT = {
  shareText: (title) => t("share.text", { title }),
  get copied() { return t("share.copied"); },
  copyFailed: (url) => t("share.copy_failed", { url }),
};
const STATUS_MS = 4000;

export class Share {
  constructor(viewer, url) {
    this.viewer = viewer;
    this.url = url || location.href.split("#")[0];
    this.status = byId("share-status");
    this._timer = null;
    for (const id of ["share-button", "upcoming-share"]) byId(id).addEventListener("click", () => this.share());
  }

  async share() {
    const title = this.viewer.state.show.title;
    if (navigator.share) {
      try {
        await navigator.share({ title, text: TEXT.shareText(title), url: this.url });
        return;
      } catch (err) {
        if (err && err.name === "AbortError") return; // the viewer closed the sheet: nothing to say
      }
    }
    let copied = false;
    try {
      await navigator.clipboard.writeText(this.url);
      copied = true;
    } catch {
      copied = false; // not allowed here (an iframe, an old browser): the link is shown instead
    }
    this._say(copied ? TEXT.copied : TEXT.copyFailed(this.url));
  }

  _say(text) {
    setText(this.status, text);
    show(this.status, true);
    this.viewer.announce(text);
    clearTimeout(this._timer);
    this._timer = setTimeout(() => show(this.status, false), STATUS_MS);
  }
}
