// Shipping and tax settings (docs/shipping.md): the host's default on the home page
// (GET/PUT /api/shipping) and a show's own on its show screen (GET/PUT/DELETE
// /api/shows/{slug}/shipping). A self-contained module: it finds its section by
// [data-shipping-path], builds the form there, and talks to the API alone.
//
// Amounts are typed in major units of the host's currency (data-currency, USD by default);
// countries one a line as "US 7.00"; the tax rate in percent ("20" is 20 % VAT included in prices).

import { sessionApi } from "../common/api.js";
import { moneyInput, parseMoney } from "../common/format.js";
import { $, flash, h } from "./dom.js";
import { problem } from "./feedback.js";
import { t } from "../common/i18n.js";

const api = sessionApi("/host/login");

function field(id, label, input, hint) {
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("p", { class: "muted small" }, hint) : null);
}

export function mountShipping(section) {
  const path = section.dataset.shippingPath;
  const ofShow = path !== "/api/shipping";
  const currency = section.dataset.currency || "USD";
  const kind = h("select", { id: "ship-kind", name: "kind" },
    h("option", { value: "none" }, t("shipping.none")),
    h("option", { value: "flat" }, t("shipping.flat")),
    h("option", { value: "per_country" }, t("shipping.per_country")));
  const flat = h("input", { id: "ship-flat", name: "flat", inputmode: "decimal", placeholder: "5.00" });
  const freeOver = h("input", { id: "ship-free-over", name: "free_over", inputmode: "decimal", placeholder: "100.00" });
  const countries = h("textarea", { id: "ship-countries", name: "countries", rows: "4", placeholder: "US 7.00\nCA 15.00" });
  const rate = h("input", { id: "ship-tax-rate", name: "tax_rate", inputmode: "decimal", placeholder: "0" });
  const label = h("input", { id: "ship-tax-label", name: "tax_label", maxlength: "16", value: "VAT" });
  const source = h("p", { class: "muted small", id: "ship-source", "aria-live": "polite" });
  const error = h("p", { class: "error-text", id: "ship-error", role: "alert" });
  const flatField = field("ship-flat", t("shipping.flat_rate", { currency }), flat);
  const countriesField = field("ship-countries", t("shipping.countries", { currency }), countries,
    t("shipping.countries_hint"));
  const form = h("form", { id: "shipping-form", class: "stack", autocomplete: "off" },
    field("ship-kind", t("shipping.shipping"), kind),
    flatField, countriesField,
    field("ship-free-over", t("shipping.free_over", { currency }), freeOver),
    h("div", { class: "form-grid" },
      field("ship-tax-rate", t("shipping.tax_rate"), rate, t("shipping.tax_hint")),
      field("ship-tax-label", t("shipping.tax_name"), label)),
    error,
    h("div", {}, h("button", { type: "submit", class: "btn btn-primary", id: "ship-save" }, t("shipping.save")),
      ofShow ? h("button", { type: "button", class: "btn btn-quiet", id: "ship-reset", onclick: reset }, t("shipping.use_default")) : null),
    source);
  section.append(form);

  const showFields = () => {
    flatField.hidden = kind.value !== "flat";
    countriesField.hidden = kind.value !== "per_country";
  };
  kind.addEventListener("change", showFields);

  function fill(profile) {
    kind.value = profile.kind;
    flat.value = profile.flat_cents ? moneyInput(profile.flat_cents, currency) : "";
    freeOver.value = profile.free_over_cents === null ? "" : moneyInput(profile.free_over_cents, currency);
    countries.value = Object.entries(profile.countries || {}).map(([code, cents]) => `${code} ${moneyInput(cents, currency)}`).join("\n");
    rate.value = profile.tax_rate_bp ? String(profile.tax_rate_bp / 100) : "";
    label.value = profile.tax_label || "VAT";
    source.textContent = { show: t("shipping.source_show"), host: ofShow ? t("shipping.source_host") : "",
      default: t("shipping.source_default") }[profile.source] || "";
    showFields();
  }

  function body() {
    const money = (input, name, optional) => {
      const text = input.value.trim();
      if (!text && optional) return null;
      const cents = parseMoney(text || "0", currency);
      if (cents === null) throw new Error(t("shipping.check_price", { name }));
      return cents;
    };
    const out = { kind: kind.value, free_over_cents: money(freeOver, t("shipping.name_free_from"), true), tax_label: label.value.trim() || "VAT" };
    if (kind.value === "flat") out.flat_cents = money(flat, t("shipping.name_flat"), false);
    if (kind.value === "per_country") {
      out.countries = {};
      for (const line of countries.value.split("\n").map((l) => l.trim()).filter(Boolean)) {
        const match = line.match(/^([A-Za-z]{2})[\s:,;]+(\S+)$/);
        const cents = match ? parseMoney(match[2], currency) : null;
        if (cents === null) throw new Error(t("shipping.check_line", { line }));
        out.countries[match[1].toUpperCase()] = cents;
      }
    }
    const percent = rate.value.trim().replace(",", ".");
    const bp = percent ? Math.round(Number(percent) * 100) : 0;
    if (!Number.isFinite(bp) || bp < 0 || bp > 10000) throw new Error(t("shipping.check_tax"));
    out.tax_rate_bp = bp;
    return out;
  }

  async function load() {
    try {
      fill(await api(path));
    } catch (err) {
      flash(problem(err));
    }
  }

  async function reset() {
    try {
      await api(path, { method: "DELETE" });
      flash(t("shipping.now_default"), "ok");
      await load();
    } catch (err) {
      flash(problem(err));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    let sent;
    try {
      sent = body();
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    try {
      fill(await api(path, { method: "PUT", body: sent }));
      flash(t("shipping.saved"), "ok");
    } catch (err) {
      error.textContent = problem(err);
    }
  });
  load();
}

const section = $("[data-shipping-path]");
if (section) mountShipping(section);
