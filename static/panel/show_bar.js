// The bar at the top of the show screen: the show's title and status, Go live / End show, and
// whether the live connection is up (the host must know when what they see may be stale).

import { $ } from "./dom.js";
import { act } from "./feedback.js";

const CONNECTION_TEXT = { open: "connected", connecting: "connecting…", reconnecting: "reconnecting…", gone: "show not found" };

export class ShowBar {
  constructor(panel) {
    this.panel = panel;
    this.title = $("#show-title");
    this.badge = $("#show-status");
    this.goLive = $("#go-live");
    this.endShow = $("#end-show");
    this.connection = $("#conn-state");

    this.goLive.addEventListener("click", (e) => act(e.currentTarget, () => this.change("start"), "You are live."));
    this.endShow.addEventListener("click", (e) => {
      if (!window.confirm("End the show? Offers end and viewers can no longer buy.")) return;
      act(e.currentTarget, () => this.change("end"), "The show has ended.");
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
    this.badge.textContent = show.status;
    this.badge.dataset.status = show.status;
    this.goLive.hidden = show.status !== "scheduled";
    this.endShow.hidden = show.status !== "live";
  }

  /** The LiveSocket's status: "connecting", "open", "reconnecting" or "gone". */
  connectionStatus(status) {
    this.connection.textContent = CONNECTION_TEXT[status] || status;
  }
}
