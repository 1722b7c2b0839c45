// Webhooks (docs/webhooks.md): the host's endpoints on the home page. Lists them (GET
// /api/webhooks/endpoints), adds one (POST; the signing secret is shown this once), deletes one,
// shows an endpoint's recent deliveries with their status and a redeliver button, and a banner
// for an endpoint disabled after failing for 3 days. Self-contained: it finds its section by
// #webhooks-panel and talks to the API alone.

import { sessionApi } from "../common/api.js";
import { $, clear, flash, h } from "./dom.js";
import { act, problem } from "./feedback.js";
import { LOCALE, t } from "../common/i18n.js";

const api = sessionApi("/host/login");

const when = (ms) => (ms ? new Date(ms).toLocaleString(LOCALE) : "");

export function mountWebhooks(section) {
  const kinds = (section.dataset.events || "").split(" ").filter(Boolean);
  const banner = h("div", { id: "webhooks-disabled", class: "alert alert-error", role: "alert", hidden: true });
  const list = h("ul", { id: "webhook-list", class: "product-list", "aria-label": t("webhooks.list") });
  const url = h("input", { id: "webhook-url", name: "url", type: "url", required: true, maxlength: "2048",
    placeholder: "https://shop.example/livedrop-webhooks" });
  const boxes = kinds.map((kind) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "events", value: kind, checked: kind === "order.paid" }), ` ${kind}`));
  const error = h("p", { class: "error-text", id: "webhook-error", role: "alert" });
  const secret = h("div", { id: "webhook-secret", hidden: true });
  const form = h("form", { id: "webhook-form", class: "stack", autocomplete: "off" },
    h("div", { class: "field" }, h("label", { for: "webhook-url" }, t("webhooks.url")), url),
    h("fieldset", { class: "field" }, h("legend", {}, t("webhooks.events")), ...boxes),
    error,
    h("div", {}, h("button", { type: "submit", class: "btn btn-primary", id: "webhook-add" }, t("webhooks.add"))));
  section.append(banner, list, h("details", { id: "webhook-new" }, h("summary", {}, t("webhooks.add_summary")), form), secret);

  function showSecret(value) {
    clear(secret).append(
      h("p", { class: "alert alert-ok" }, t("webhooks.secret")),
      h("code", { id: "webhook-secret-value", class: "secret" }, value));
    secret.hidden = false;
  }

  async function deliveries(endpoint, box) {
    const answer = await api(`/api/webhooks/endpoints/${endpoint.id}/deliveries`);
    clear(box);
    if (!answer.deliveries.length) {
      box.append(h("p", { class: "muted small" }, t("webhooks.no_deliveries")));
      return;
    }
    box.append(h("table", { class: "deliveries" },
      h("thead", {}, h("tr", {}, h("th", {}, t("webhooks.event")), h("th", {}, t("webhooks.status")), h("th", {}, t("webhooks.attempts")),
        h("th", {}, t("webhooks.last_answer")), h("th", {}, ""))),
      h("tbody", {}, answer.deliveries.map((d) => h("tr", { dataset: { deliveryId: d.id } },
        h("td", {}, h("code", {}, d.type), " ", h("span", { class: "muted small" }, d.event_id)),
        h("td", { class: `delivery-${d.status}` }, d.status),
        h("td", {}, String(d.attempts)),
        h("td", { class: "small" }, d.last_error || (d.last_status ? `HTTP ${d.last_status}` : "")),
        h("td", {}, h("button", { type: "button", class: "btn btn-quiet redeliver", onclick: async (event) => {
          const done = await act(event.currentTarget, () => api(`/api/webhooks/deliveries/${d.id}/redeliver`, { method: "POST" }),
            t("webhooks.queued"));
          if (done) setTimeout(() => deliveries(endpoint, box).catch((err) => flash(problem(err))), 1500);
        } }, t("webhooks.redeliver"))))))));
  }

  function row(endpoint) {
    const box = h("div", { class: "webhook-deliveries" });
    const details = h("details", {}, h("summary", {}, t("webhooks.recent")), box);
    details.addEventListener("toggle", () => {
      if (details.open) deliveries(endpoint, box).catch((err) => flash(problem(err)));
    });
    return h("li", { class: "webhook", dataset: { endpointId: endpoint.id } },
      h("div", {}, h("strong", { class: "webhook-url" }, endpoint.url),
        endpoint.disabled_at ? h("span", { class: "badge badge-error" }, t("webhooks.disabled")) : null),
      h("p", { class: "muted small" }, endpoint.events.join(", ")),
      h("button", { type: "button", class: "btn btn-quiet webhook-delete", onclick: async (event) => {
        if (!confirm(t("webhooks.delete_confirm", { url: endpoint.url }))) return;
        if (await act(event.currentTarget, () => api(`/api/webhooks/endpoints/${endpoint.id}`, { method: "DELETE" }), t("webhooks.deleted")) !== undefined) {
          await load();
        }
      } }, t("webhooks.delete")),
      details);
  }

  async function load() {
    try {
      const { endpoints } = await api("/api/webhooks/endpoints");
      clear(list).append(...endpoints.map(row));
      if (!endpoints.length) list.append(h("li", { class: "muted small" }, t("webhooks.none")));
      const disabled = endpoints.filter((e) => e.disabled_at);
      banner.hidden = !disabled.length;
      clear(banner).append(...disabled.map((e) => h("p", {},
        t("webhooks.stopped", { url: e.url, when: when(e.disabled_at) }))));
    } catch (err) {
      flash(problem(err));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const events = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (!events.length) {
      error.textContent = t("webhooks.choose_event");
      return;
    }
    try {
      const made = await api("/api/webhooks/endpoints", { method: "POST", body: { url: url.value.trim(), events } });
      showSecret(made.secret);
      url.value = "";
      await load();
    } catch (err) {
      error.textContent = problem(err);
    }
  });
  load();
}

const section = $("#webhooks-panel");
if (section) mountWebhooks(section);
