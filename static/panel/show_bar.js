// The bar at the top of the show screen: the show's title and status, Go live / End show, and
// whether the live connection is up (the host must know when what they see may be stale).

import { $ } from "./dom.js";
import { act } from "./feedback.js";
import { t } from "../common/i18n.js";

const CONNECTION_TEXT = {
  open: () => t("panel.conn.open"), connecting: () => t("panel.conn.connecting"),
  reconnecting: () => t("panel.conn.reconnecting"), gone: () => t("panel.conn.gone"),
};
const STATUS_TEXT = { scheduled: () => t("panel.status.scheduled"), live: () => t("panel.status.live"), ended: () => t("panel.status.ended") };

export class ShowBar {
  constructor(panel) {
    this.panel = panel;
    this.title = $("#show-title");
    this.badge = $("#show-status");
    this.goLive = $("#go-live");
    this.endShow = $("#end-show");
    this.connection = $("#conn-state");

    this.goLive.addEventListener("click", (e) => act(e.currentTarget, () => this.change("start"), t("panel.you_are_live")));
    this.endShow.addEventListener("click", (e) => {
      if (!window.confirm(t("panel.end_confirm"))) return;
      act(e.currentTarget, () => this.change("end"), t("panel.show_ended"));
    });
  }

  /** POST start / end. The answer is the show: shown at once, before its `show` frame arrives. */
  async change(verb) {
    const show = await this.panel.api(`${this.panel.path}/${verb}`, { method: "POST" });
    this.panel.apply({ type: "show", show });
  }

  render() {
    const show = this.panel.state.show;
    if (!show) return; // the page's own HTML stands until the snapshot
    this.title.textContent = show.title;
    this.title.title = show.title;
    document.title = `${show.title} · livedrop`;
    this.badge.textContent = STATUS_TEXT[show.status] ? STATUS_TEXT[show.status]() : show.status;
    this.badge.dataset.status = show.status;
    this.goLive.hidden = show.status !== "scheduled";
    this.endShow.hidden = show.status !== "live";
  }

  /** The LiveSocket's status: "connecting", "open", "reconnecting" or "gone". */
  connectionStatus(status) {
    this.connection.textContent = CONNECTION_TEXT[status] ? CONNECTION_TEXT[status]() : status;
  }
}
