// Calls to livedrop's HTTP API. Every refusal arrives as {"error": {"code", "message"}} and is
// thrown as an ApiError, so callers branch on a stable `code`, never on a status or a sentence.
// Shared by the viewer page and the host panel.

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the server was not reached)
   * @param {string} code stable error code ("sold_out", "network", ...)
   * @param {string} message the server's sentence (for logs; pages write their own)
   * @param {number|null} retryAfter seconds from a Retry-After header, if any
   */
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * fetch() for the JSON API. Resolves to the parsed body (null for 204), throws ApiError.
 * @param {string} path
 * @param {{method?: string, body?: unknown, headers?: Record<string,string>, signal?: AbortSignal}} [options]
 */
export async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", ...headers },
    signal,
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
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
    );
  }
  return data;
}

/** A fresh idempotency key (one per buy press; the same one for retries of that press). */
export function newKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes); // randomUUID needs a secure context; this does not
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
