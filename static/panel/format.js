// Numbers for people: money from minor units, percentages, clock times.

const digitsCache = new Map();

/** How many minor-unit digits a currency has (2 for USD, 0 for JPY). */
export function currencyDigits(currency) {
  const code = (currency || "USD").toUpperCase();
  if (!digitsCache.has(code)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions().maximumFractionDigits;
    } catch (err) {
      digits = 2;
    }
    digitsCache.set(code, digits);
  }
  return digitsCache.get(code);
}

export function money(cents, currency) {
  const code = (currency || "USD").toUpperCase();
  const digits = currencyDigits(code);
  const value = Number(cents || 0) / 10 ** digits;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: code }).format(value);
  } catch (err) {
    return `${value.toFixed(digits)} ${code}`;
  }
}

/** "129.00" -> 12900 for USD; null when it is not a price. */
export function parseMoney(text, currency) {
  const digits = currencyDigits(currency);
  const match = String(text).trim().replace(",", ".").match(/^(\d{1,9})(?:\.(\d+))?$/);
  if (!match || (match[2] && match[2].length > digits)) return null;
  const fraction = (match[2] || "").padEnd(digits, "0");
  return Number(match[1]) * 10 ** digits + (digits ? Number(fraction) : 0);
}

/** 12900 -> "129.00" for an input field. */
export function moneyInput(cents, currency) {
  const digits = currencyDigits(currency);
  return (Number(cents || 0) / 10 ** digits).toFixed(digits);
}

export function percent(share) {
  if (share === null || share === undefined) return "–";
  return `${(share * 100).toFixed(share >= 0.1 || share === 0 ? 0 : 1)}%`;
}

export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function dateTime(ms) {
  return new Date(ms).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

export function countdown(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}
