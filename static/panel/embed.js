// The embed snippet a host pastes into their own site: an <iframe> of the viewer page.

import { flash } from "./dom.js";
import { t } from "../common/i18n.js";

function attr(text) {
  return String(text).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function embedSnippet(base, show) {
  const src = `${base}/s/${encodeURIComponent(show.slug)}`;
  return `<iframe src="${attr(src)}" title="${attr(t("panel.embed.title", { title: show.title }))}" width="420" height="760" ` +
    `style="border:0;max-width:100%" allow="autoplay; fullscreen; clipboard-write" loading="lazy"></iframe>`;
}

/** Copies to the clipboard; where that is not allowed, selects the field so Ctrl+C works. */
export async function copyText(text, field) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (err) {
    if (field) {
      field.focus();
      field.select();
    }
    return false;
  }
}

/** The show screen's embed box: the snippet in a read-only field, and a button that copies it. */
export function wireEmbedBox({ field, button, base, show }) {
  field.value = embedSnippet(base, show);
  button.addEventListener("click", async () => {
    const copied = await copyText(field.value, field);
    flash(copied ? t("panel.embed.copied") : t("panel.embed.press_ctrl_c"), "ok", 2500);
  });
}
