// The browser's strings in the page's language (docs/translations.md). The server picks the language
// (the livedrop_lang cookie of the switch, else Accept-Language: live/i18n.py) and writes it in
// <html lang>; this module loads that language's catalog, static/i18n/<lang>.json, once (the pages
// preload it, so the fetch runs alongside the module downloads), before any module that imports it runs.
//
//   t("card.sold_out")                     -> "Ausverkauft"
//   t("card.left", { n: 3 })               -> "Noch 3" (a plural key: { one, few, many, other })
//   t("chat.as", { name: "Kim" })          -> "Du chattest als Kim"
//
// Keys are literal strings (tests/web/test_i18n_catalogs.py finds every t("...") in static/ and
// fails when a catalog misses one). A plural value is an object keyed by the categories
// Intl.PluralRules gives for the language (Polish: one, few, many, other); `n` (or `count`) picks one.
// Numbers among the params are written as the language writes them (1 284, 1.284, 1,284).

export const LOCALES = ["en", "de", "pl", "fi"];
const lang = (document.documentElement.lang || "en").toLowerCase().split("-")[0];
/** The page's language: "en", "de", "pl" or "fi". */
export const LOCALE = LOCALES.includes(lang) ? lang : "en";

async function load(locale) {
  try {
    const response = await fetch(`/static/i18n/${locale}.json`, { credentials: "same-origin" });
    if (response.ok) return await response.json();
  } catch {
    // Offline or blocked: the English catalog is tried next.
  }
  return null;
}

const catalog = (await load(LOCALE)) || (LOCALE !== "en" ? await load("en") : null) || {};
const pluralRules = new Intl.PluralRules(LOCALE);
const numbers = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in params)) return whole;
    const value = params[name];
    return typeof value === "number" ? numbers.format(value) : String(value ?? "");
  });
}

/** The string of `key` in the page's language, `{name}` filled from `params`. */
export function t(key, params = {}) {
  let value = catalog[key];
  if (value && typeof value === "object") {
    const n = Number(params.n ?? params.count ?? 0);
    value = value[pluralRules.select(n)] ?? value.other;
  }
  if (typeof value !== "string") return key; // a missing key shows itself (the catalog test prevents it)
  return fill(value, params);
}

/** Whether `key` is in the catalog (for code that offers a fallback of its own, e.g. a server message). */
export function has(key) {
  return typeof catalog[key] === "string" || (catalog[key] && typeof catalog[key] === "object");
}
