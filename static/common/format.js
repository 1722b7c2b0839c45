// Money, countdowns, dates and the server clock. Every time on the wire is integer milliseconds
// since the epoch in the server's clock; ServerClock maps it onto this device's clock so every
// screen shows the same second. Shared by the viewer page and the host panel (which also parses the
// prices a host types: parseMoney, moneyInput). Everything is written in the page's language
// (LOCALE, static/common/i18n.js); a currency stays the product's.

import { LOCALE, t } from "./i18n.js";

const moneyFormats = new Map();

function moneyFormat(currency, locale) {
  const key = `${locale || ""}|${currency}`;
  let format = moneyFormats.get(key);
  if (!format) {
    try {
      format = new Intl.NumberFormat(locale, { style: "currency", currency });
    } catch {
      format = new Intl.NumberFormat(locale, { style: "currency", currency: "USD" });
    }
    moneyFormats.set(key, format);
  }
  return format;
}

/** Integer minor units in `currency` ("USD", "JPY"...) as the browser's locale writes them.
 * A missing amount is 0 and a missing currency USD (the panel's revenue before the first sale). */
export function formatMoney(cents, currency, locale = LOCALE) {
  const format = moneyFormat((currency || "USD").toUpperCase(), locale);
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(Number(cents || 0) / 10 ** digits);
}

const digitsCache = new Map();

/** How many minor-unit digits a currency has (2 for USD, 0 for JPY): prices are typed in major units. */
export function currencyDigits(currency) {
  const code = (currency || "USD").toUpperCase();
  if (!digitsCache.has(code)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions().maximumFractionDigits;
    } catch {
      digits = 2;
    }
    digitsCache.set(code, digits);
  }
  return digitsCache.get(code);
}

/** A price typed by a person, "129.00" (or "129,00"), as minor units: 12900 for USD; null when it is not a price. */
export function parseMoney(text, currency) {
  const digits = currencyDigits(currency);
  const match = String(text).trim().replace(",", ".").match(/^(\d{1,9})(?:\.(\d+))?$/);
  if (!match || (match[2] && match[2].length > digits)) return null;
  const fraction = (match[2] || "").padEnd(digits, "0");
  return Number(match[1]) * 10 ** digits + (digits ? Number(fraction) : 0);
}

/** Minor units as an input field shows them for editing: 12900 -> "129.00" (no symbol, no grouping). */
export function moneyInput(cents, currency) {
  const digits = currencyDigits(currency);
  return (Number(cents || 0) / 10 ** digits).toFixed(digits);
}

/** A share (0..1) as "20%" ("20 %" in German), "2.5%" under 10%, and "–" when there is nothing to divide by (null). */
export function formatPercent(share, locale = LOCALE) {
  if (share === null || share === undefined) return "–";
  const digits = share >= 0.1 || share === 0 ? 0 : 1;
  return new Intl.NumberFormat(locale, { style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits }).format(share);
}

/** "1 buyer", "3 buyers" (English only: translated code uses t() with a plural key). */
export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/** "4:59", "12:03", "1:02:03" for a duration in ms (rounded up: 0:01 until it is really over). */
export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** The same duration as words for screen readers: "4 minutes 59 seconds". */
export function spokenDuration(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const parts = [];
  if (h) parts.push(t("time.hours", { n: h }));
  if (m) parts.push(t("time.minutes", { n: m }));
  if (s && !h) parts.push(t("time.seconds", { n: s }));
  return parts.join(" ") || t("time.seconds", { n: 0 });
}

/** A date and time in the browser's locale and time zone: "Friday, December 4, 2026 at 8:00 PM". */
export function formatDateTime(ms, locale = LOCALE) {
  return new Intl.DateTimeFormat(locale, { dateStyle: "full", timeStyle: "short" }).format(new Date(ms));
}

/** The same, short enough for a list row: "Dec 4, 2026, 8:00 PM". */
export function formatShortDateTime(ms, locale = LOCALE) {
  return new Date(ms).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}

/** A time of day to the second, for logs and lists of events: "20:01:09". */
export function formatClockTime(ms, locale = LOCALE) {
  return new Date(ms).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** "in 3 hours", "in 5 minutes", "tomorrow"... */
export function formatRelative(ms, locale = LOCALE) {
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  const seconds = Math.round(ms / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(seconds, "second");
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}

/** A compact count: 1,234 -> "1.2K". */
export function formatCount(n, locale = LOCALE) {
  return new Intl.NumberFormat(locale, { notation: n >= 10000 ? "compact" : "standard" }).format(n);
}

/** A whole number as the locale writes it: 1284 -> "1,284" (en), "1.284" (de). */
export function formatNumber(n, locale = LOCALE) {
  return numberFormat(locale).format(n);
}

const numberFormats = new Map();
function numberFormat(locale) {
  const key = locale || "";
  if (!numberFormats.has(key)) numberFormats.set(key, new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }));
  return numberFormats.get(key);
}

// English ordinal suffixes by the plural category Intl gives an ordinal ("one" is 1st, 21st...).
const EN_ORDINAL = { one: "st", two: "nd", few: "rd", other: "th" };
let enOrdinalRules = null;

/** An ordinal in English: 1 -> "1st", 1284 -> "1,284th", 112 -> "112th" (digits grouped by `locale`). */
export function formatOrdinal(n, locale = "en") {
  enOrdinalRules ??= new Intl.PluralRules("en", { type: "ordinal" });
  return `${formatNumber(n, locale)}${EN_ORDINAL[enOrdinalRules.select(n)] || EN_ORDINAL.other}`;
}

/** When something happens, as short as is clear from `now`: "8:00 PM" today ("8:00:30 PM" off the
 * minute), "Fri 8:00 PM" within a week, else "Dec 4, 8:00 PM". */
export function formatWhen(ms, now = Date.now(), locale = LOCALE) {
  const at = new Date(ms);
  const time = { hour: "numeric", minute: "2-digit" };
  if (at.getSeconds() !== 0) time.second = "2-digit";
  const sameDay = at.toDateString() === new Date(now).toDateString();
  const options = sameDay ? time
    : Math.abs(ms - now) < 6 * 86400000 ? { weekday: "short", ...time } : { month: "short", day: "numeric", ...time };
  return new Intl.DateTimeFormat(locale, options).format(at);
}

/** The server's clock as seen from here: `now()` is server milliseconds. */
export class ServerClock {
  constructor() {
    this.offset = 0; // server minus local
    this.bestRtt = Infinity;
  }

  /** A server time read when a response arrived (latency unknown: trusted until a ping measures). */
  set(serverTime) {
    if (Number.isFinite(serverTime) && this.bestRtt === Infinity) this.offset = serverTime - Date.now();
  }

  /** A ping answered: the server's time sat halfway between send and receive. Keeps the
   * measurement with the shortest round trip of the last ones, which is the most exact. */
  measure(serverTime, sentAt, receivedAt) {
    const rtt = receivedAt - sentAt;
    if (!Number.isFinite(serverTime) || rtt < 0) return;
    if (rtt <= this.bestRtt * 1.5 || rtt < 50) {
      this.bestRtt = Math.min(this.bestRtt, rtt);
      this.offset = serverTime - (sentAt + receivedAt) / 2;
    }
  }

  now() {
    return Date.now() + this.offset;
  }
}
