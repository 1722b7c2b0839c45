// The show's chat moderators (docs/host-chat.md), on the host's show screen: the emails named, each
// with Remove, and a field to name one more. A moderator is a host account with that email; it may
// then post with a badge, reply, pin, delete and mute in this show's chat, and nothing else (the
// API answers it 403 moderator_not_allowed). Only the show's host sees this box.

import { $, clear, flash, h } from "./dom.js";
import { act, problem } from "./feedback.js";
import { t } from "../common/i18n.js";

export class Moderators {
  constructor(panel) {
    this.panel = panel;
    this.box = $("#moderators-panel");
    this.list = h("ul", { class: "moderator-list", id: "moderator-list", "aria-label": t("panel.mods.list_label") });
    this.input = h("input", { id: "moderator-email", type: "email", name: "email", maxlength: "320", required: true,
      autocomplete: "off", spellcheck: "false", placeholder: t("panel.mods.placeholder") });
    this.addButton = h("button", { type: "submit", class: "btn", id: "moderator-add" }, t("panel.mods.add"));
    this.error = h("p", { class: "error-text", id: "moderator-error", role: "alert" });
    this.form = h("form", { class: "moderator-form", id: "moderator-form", novalidate: true,
      onsubmit: (e) => { e.preventDefault(); this.add(); } },
      h("div", { class: "field" }, h("label", { for: "moderator-email" }, t("panel.mods.email_label")), this.input),
      this.addButton);
    this.box.append(this.list, this.form, this.error);
    this.emails = [];
  }

  async start() {
    try {
      const { moderators } = await this.panel.api(`${this.panel.path}/moderators`);
      this.emails = moderators;
      this.render();
    } catch (err) {
      this.error.textContent = problem(err);
    }
  }

  render() {
    clear(this.list);
    if (!this.emails.length) this.list.append(h("li", { class: "muted small empty" }, t("panel.mods.none")));
    for (const email of this.emails) {
      this.list.append(h("li", { dataset: { email } },
        h("span", { class: "email" }, email),
        h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": t("panel.mods.remove_label", { email }),
          onclick: (e) => this.remove(email, e.currentTarget) }, t("panel.mods.remove"))));
    }
  }

  add() {
    const email = this.input.value.trim();
    this.error.textContent = "";
    if (!this.input.checkValidity() || !email) {
      this.error.textContent = t("panel.mods.bad_email");
      this.input.focus();
      return undefined;
    }
    return this.name(email);
  }

  /** POST the email; a refusal (a malformed or own address, the limit) is said next to the field. */
  async name(email) {
    this.addButton.disabled = true;
    try {
      const named = await this.panel.api(`${this.panel.path}/moderators`, { method: "POST", body: { email } });
      if (!this.emails.includes(named.email)) this.emails.push(named.email);
      this.input.value = "";
      this.render();
      flash(t("panel.mods.added", { email: named.email }), "ok", 2500);
    } catch (err) {
      this.error.textContent = problem(err);
    } finally {
      this.addButton.disabled = false;
    }
  }

  remove(email, button) {
    return act(button, async () => {
      await this.panel.api(`${this.panel.path}/moderators/${encodeURIComponent(email)}`, { method: "DELETE" });
      this.emails = this.emails.filter((e) => e !== email);
      this.render();
    }, t("panel.mods.removed", { email }));
  }
}
