// What the host is told when a call to the API fails, and the one way a button press calls it:
// the button is disabled while the call runs (no double pin, no two offers from one click), and
// the outcome is flashed. Used by the home page and every area of the show screen.

import { ApiError } from "../common/api.js";
import { flash } from "./dom.js";
import { t } from "../common/i18n.js";

/** The sentence for a failed call: the server's own for a refusal (it names the field), ours when
 * the server was not reached (common/api.js leaves that sentence to each page). */
export function problem(err) {
  if (err instanceof ApiError) return err.code === "network" ? t("panel.unreachable") : err.message;
  return String(err);
}

/**
 * Runs `work` for a button press: the button is disabled meanwhile; `done` is flashed on success,
 * the problem on failure (then undefined is returned, so callers need no try/catch of their own).
 */
export async function act(button, work, done) {
  if (button) button.disabled = true;
  try {
    const result = await work();
    if (done) flash(done, "ok", 2500);
    return result;
  } catch (err) {
    flash(problem(err));
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}
