// "Remind me" on a scheduled show (docs/notify.md): emails 24 h and 15 min before it starts and
// when it goes live, each once, with an unsubscribe link. The form sits in the show's scheduled
// notice (viewer.html); it shows the buyer's reminder after a reload and lets them cancel it.

import { api, ApiError } from "../common/api.js";
import { byId, setText, show } from "./dom.js";
import { t } from "../common/i18n.js";

export class Remind {
  constructor(viewer) {
    this.viewer = viewer;
    this.form = byId("remind-form");
    this.email = byId("remind-email");
    this.status = byId("remind-status");
    this.statusText = byId("remind-status-text");
    this.cancelButton = byId("remind-cancel");
    this.reminder = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.subscribe();
    });
    this.cancelButton.addEventListener("click", () => this.cancel());
  }

  get path() {
    return `/api/shows/${encodeURIComponent(this.viewer.slug)}/reminders`;
  }

  async start() {
    if (!this.viewer.buyer.id || this.viewer.state.show.status !== "scheduled") return;
    try {
      this.reminder = await api(`${this.path}/me`);
    } catch {
      this.reminder = null; // 404: none yet
    }
    this.render();
  }

  async subscribe() {
    const email = this.email.value.trim();
    try {
      await this.viewer.ensureBuyer();
      this.reminder = await api(this.path, { method: "POST", body: email ? { email } : {} });
      this.viewer.announce(email ? t("remind.will_email", { email }) : t("remind.keep_open"));
    } catch (err) {
      const code = err instanceof ApiError ? err.code : "network";
      this.reminder = null;
      setText(this.statusText, code === "invalid_request" ? t("remind.bad_email") : t("remind.failed"));
      show(this.status, true);
      show(this.cancelButton, false);
      return;
    }
    this.render();
  }

  async cancel() {
    try {
      await api(this.path, { method: "DELETE" });
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== "not_found") return;
    }
    this.reminder = null;
    this.viewer.announce(t("remind.cancelled"));
    this.render();
  }

  render() {
    const scheduled = this.viewer.state.show.status === "scheduled";
    show(this.form, scheduled && !this.reminder);
    show(this.status, scheduled && Boolean(this.reminder));
    if (this.reminder) {
      setText(this.statusText, this.reminder.email
        ? t("remind.set_email", { email: this.reminder.email })
        : t("remind.set_page"));
      show(this.cancelButton, true);
    }
  }
}
