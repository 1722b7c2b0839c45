// Money, countdowns, dates and the server clock. Every time on the wire is integer milliseconds
// since the epoch in the server's clock; ServerClock maps it onto this device's clock so every
// screen shows the same second. Shared by the viewer page and the host panel.

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

/** Integer minor units in `currency` ("USD", "JPY"...) as the browser's locale writes them. */
export function formatMoney(cents, currency, locale = undefined) {
  const format = moneyFormat(currency, locale);
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(cents / 10 ** digits);
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
  if (h) parts.push(`${h} hour${h === 1 ? "" : "s"}`);
  if (m) parts.push(`${m} minute${m === 1 ? "" : "s"}`);
  if (s && !h) parts.push(`${s} second${s === 1 ? "" : "s"}`);
  return parts.join(" ") || "0 seconds";
}

/** A date and time in the browser's locale and time zone. */
export function formatDateTime(ms, locale = undefined) {
  return new Intl.DateTimeFormat(locale, { dateStyle: "full", timeStyle: "short" }).format(new Date(ms));
}

/** "in 3 hours", "in 5 minutes", "tomorrow"... */
export function formatRelative(ms, locale = undefined) {
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  const seconds = Math.round(ms / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(seconds, "second");
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}

/** A compact count: 1,234 -> "1.2K". */
export function formatCount(n, locale = undefined) {
  return new Intl.NumberFormat(locale, { notation: n >= 10000 ? "compact" : "standard" }).format(n);
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
