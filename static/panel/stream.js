// The external stream URL (an HLS playlist or a WHEP URL from MediaMTX or a CDN): viewers play it
// instead of livedrop's own camera stream. Saved with PATCH /api/shows/{slug}; a `show` frame
// (this tab's save or another's) puts the saved value back in the field.

import { $ } from "./dom.js";
import { act } from "./feedback.js";
import { t } from "../common/i18n.js";

export class StreamForm {
  constructor(panel) {
    this.panel = panel;
    this.form = $("#stream-form");
    this.input = $("#stream-url");
    this.save = $("#stream-save");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  submit() {
    const { api, path } = this.panel;
    const url = this.input.value.trim();
    return act(this.save, async () => {
      const show = await api(path, { method: "PATCH", body: { stream_url: url || null } });
      this.panel.apply({ type: "show", show });
    }, url ? t("panel.stream.saved") : t("panel.stream.cleared"));
  }

  render() {
    const show = this.panel.state.show;
    if (show && document.activeElement !== this.input) this.input.value = show.stream_url || ""; // not while the host types
  }
}
