// The waiting room's proof of work (web.queue_pow; docs/waiting-room-pow.md): fetch the server's
// ALTCHA challenge and solve it with the vendored ALTCHA widget's own solver, which runs in Web
// Workers (one per core, so the page stays responsive) and answers in the payload format the
// server checks. The widget is loaded only when a challenge is to be solved, and kept out of
// sight: pages that want the visible widget use <altcha-widget> from static/vendor/altcha.
//
// Needs a secure context (https, or localhost): the solver hashes with crypto.subtle.

import { api, ApiError } from "./api.js";

const WIDGET = "/static/vendor/altcha/altcha.min.js"; // ALTCHA 3.2.2 (MIT), vendored from npm

/**
 * The answer to join a waiting room with: `{"pow": <this>}` in the join's body.
 * @param {string} challengeUrl GET /api/shows/{slug}/offers/{offer_id}/queue/challenge
 * @param {{signal?: AbortSignal, workers?: number}} [options] workers: how many to solve with
 *   (default: the widget's, one per core, at most 4 on a device with 4 GB of memory or less)
 * @returns {Promise<string|null>} the base64 payload, or null when the server asks no proof of
 *   work (404 pow_off: join with {})
 * @throws {ApiError} the challenge could not be fetched (its code), or "pow_failed" when it could
 *   not be solved (an error in the widget; it logs why); an AbortError when `signal` aborts
 */
export async function solvePow(challengeUrl, { signal, workers } = {}) {
  let challenge;
  try {
    challenge = await api(challengeUrl, { signal, cache: "no-store" });
  } catch (err) {
    if (err instanceof ApiError && err.code === "pow_off") return null;
    throw err;
  }
  await import(WIDGET);
  const widget = document.createElement("altcha-widget");
  widget.hidden = true;
  document.body.append(widget);
  const controller = new AbortController();
  const abort = () => controller.abort();
  signal?.addEventListener("abort", abort);
  try {
    await mounted(widget);
    widget.configure({
      challenge,
      display: "invisible",
      humanInteractionSignature: false, // no pointer data is collected or sent
      minDuration: 0, // the widget waits 500 ms by default so a checkbox does not flicker; nothing to show here
      ...(workers ? { workers } : {}),
    });
    const result = await widget.verify({ controller });
    signal?.throwIfAborted();
    if (!result || !result.payload) throw new ApiError(0, "pow_failed", "the proof of work could not be solved");
    return result.payload;
  } finally {
    signal?.removeEventListener("abort", abort);
    widget.remove();
  }
}

/** The widget's methods are there, and answer, only once its component is mounted: a task or so
 * after the element is connected (Chromium 156 and ALTCHA 3.2.2: one). */
async function mounted(widget) {
  const ready = () => typeof widget.getState === "function" && widget.getState() !== undefined;
  for (let i = 0; i < 100 && !ready(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  if (!ready()) throw new ApiError(0, "pow_failed", "the proof-of-work widget did not start");
}
