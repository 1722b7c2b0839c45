// Calls to livedrop's HTTP API. Every refusal arrives as {"error": {"code", "message"}} and is
// thrown as an ApiError, so callers branch on a stable `code`, never on a status or a sentence.
// Shared by the viewer page (buyer cookie), the replay page and the host panel (session cookie
// plus CSRF header: sessionApi below).

import { LOCALE } from "./i18n.js";

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the server was not reached)
   * @param {string} code stable error code ("sold_out", "network", ...)
   * @param {string} message the server's sentence (for logs; pages write their own)
   * @param {number|null} retryAfter seconds from a Retry-After header, if any
   * @param {unknown} body the whole parsed answer (null when none): some refusals carry details,
   *   such as the per-line problems of a CSV import in body.error.errors
   */
  constructor(status, code, message, retryAfter = null, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.body = body;
  }
}

/**
 * fetch() for the JSON API. Resolves to the parsed body (null for 204), throws ApiError.
 * @param {string} path
 * @param {{method?: string, body?: unknown, headers?: Record<string,string>, signal?: AbortSignal,
 *          contentType?: string, cache?: RequestCache}} [options]
 *   body is sent as JSON, unless contentType is given: then it is sent as it is (a CSV file's text).
 */
export async function api(path, { method = "GET", body, headers = {}, signal, contentType, cache } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", ...headers },
    signal,
  };
  if (cache) init.cache = cache;
  if (body !== undefined) {
    init.headers["Content-Type"] = contentType || "application/json";
    init.body = contentType ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "network", "the server could not be reached");
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && typeof data === "object" && data.error ? data.error : {};
    const retry = Number.parseFloat(response.headers.get("Retry-After") || "");
    throw new ApiError(
      response.status,
      typeof error.code === "string" ? error.code : `http_${response.status}`,
      typeof error.message === "string" ? error.message : response.statusText,
      Number.isFinite(retry) ? retry : null,
      data,
    );
  }
  return data;
}

/**
 * What to tell a person about a failed call: the server's own message (error.message) as a
 * sentence, or `fallback` when the server was not reached or said nothing readable. Never a code.
 * @param {unknown} err
 * @param {string} fallback
 */
export function refusalText(err, fallback) {
  // The server's messages are English: a page in another language says its own sentence when it has one.
  if (LOCALE !== "en" && fallback) return fallback;
  const message = err instanceof ApiError && err.status !== 0 ? err.body?.error?.message : null;
  if (typeof message !== "string" || !message.trim()) return fallback;
  const text = message.trim();
  return `${text[0].toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? "" : "."}`;
}

/** The CSRF token a signed-in page carries in <meta name="csrf-token"> ("" when it has none). */
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

/**
 * api() for a page signed in with the session cookie (the host panel). The cookie alone does not
 * authorise a change: every call also carries the page's CSRF token in X-CSRF-Token. Answers are
 * never taken from the HTTP cache (the panel shows the books as they are now), and a 401 means the
 * session is over, so the page goes to `signInPath` (the call still throws, for the caller's finally).
 * @param {string} signInPath
 * @returns {typeof api}
 */
export function sessionApi(signInPath) {
  const csrf = csrfToken(); // read once: the page's token does not change while it is open
  return async (path, options = {}) => {
    try {
      return await api(path, { ...options, cache: "no-store", headers: { "X-CSRF-Token": csrf, ...(options.headers || {}) } });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) window.location.assign(signInPath);
      throw err;
    }
  };
}

/** A fresh idempotency key (one per buy press; the same one for retries of that press). */
export function newKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes); // randomUUID needs a secure context; this does not
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
