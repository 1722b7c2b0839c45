// The show's shipping terms (GET /api/shows/{slug}/shipping) and the country list (GET
// /api/countries), for the card's line and the checkout sheet. The server decides what is charged
// (inventory/shipping.py); this is the same arithmetic, so the sheet shows it before paying.

import { api } from "../common/api.js";
import { formatMoney } from "../common/format.js";
import { t } from "../common/i18n.js";

let countries = null;

/** {countries: [{code, name}], regions: {US: [...], CA: [...]}}, fetched once per page. */
export function loadCountries() {
  countries ??= api("/api/countries").catch((err) => {
    countries = null;
    throw err;
  });
  return countries;
}

/** Shipping in minor units for items worth `subtotal` sent to `country`; null: not shipped there. */
export function shippingCents(terms, subtotal, country) {
  if (!terms || terms.kind === "none") return 0;
  const listed = Object.prototype.hasOwnProperty.call(terms.countries || {}, country);
  if (terms.kind === "per_country" && !listed) return null;
  if (terms.free_over_cents !== null && terms.free_over_cents !== undefined && subtotal >= terms.free_over_cents) return 0;
  return terms.kind === "flat" ? terms.flat_cents : terms.countries[country];
}

/** What a draw's entry authorizes for shipping on top of `price` when it names no country
 * (live/draws.py _shipping_allowance): none, flat, or the dearest listed destination. */
export function entryShippingCents(terms, price) {
  if (!terms || terms.kind === "none") return 0;
  if (terms.free_over_cents !== null && terms.free_over_cents !== undefined && price >= terms.free_over_cents) return 0;
  return terms.kind === "flat" ? terms.flat_cents : Math.max(0, ...Object.values(terms.countries || {}));
}

/** The tax inside a tax-inclusive amount: gross * rate / (1 + rate), nearest minor unit, halves up. */
export function includedTax(gross, rateBp) {
  if (!rateBp || gross <= 0) return 0;
  const denominator = 10000 + rateBp;
  return Math.floor((2 * gross * rateBp + denominator) / (2 * denominator));
}

/** The card's line: "Shipping $5.00, free from $100.00", "Ships to 3 countries from $7.00"; "" for none. */
export function termsText(terms, currency) {
  if (!terms) return "";
  const money = (cents) => formatMoney(cents, currency);
  const free = terms.free_over_cents !== null && terms.free_over_cents !== undefined ? t("terms.free_from", { amount: money(terms.free_over_cents) }) : "";
  let text = "";
  if (terms.kind === "flat") text = terms.flat_cents ? t("terms.shipping", { amount: money(terms.flat_cents), free }) : t("terms.free_shipping");
  if (terms.kind === "per_country") {
    const prices = Object.values(terms.countries || {});
    const count = prices.length;
    text = t("terms.ships_to", { n: count, amount: money(Math.min(...prices)), free });
  }
  if (terms.tax_rate_bp) text += `${text ? " · " : ""}${t("terms.tax", { tax: terms.tax_label, percent: terms.tax_rate_bp / 100 })}`;
  return text;
}
