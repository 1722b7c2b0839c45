// The waiting page of a scheduled show: who hosts it, remind-me (viewer/remind.js) and share, above
// the product card of what drops (pinned before the start), instead of an empty gradient.

import { byId, setText, show } from "./dom.js";
import { t } from "../common/i18n.js";

const TEXT = {
  host: (name) => t("upcoming.host", { name }),
};

export class Upcoming {
  constructor(viewer, hostName) {
    this.viewer = viewer;
    this.hostName = hostName || "";
    this.root = byId("upcoming");
    this.host = byId("upcoming-host");
  }

  render() {
    const scheduled = this.viewer.state.show.status === "scheduled";
    show(this.root, scheduled);
    show(this.host, scheduled && Boolean(this.hostName));
    setText(this.host, this.hostName ? TEXT.host(this.hostName) : "");
  }
}
