// The language switch of every page (web/templates/_lang_switch.html): the choice is kept for a
// year in the livedrop_lang cookie, which the server reads before Accept-Language (live/i18n.py),
// and the page reloads in it.

const YEAR_S = 365 * 24 * 3600;

for (const select of document.querySelectorAll("select[data-lang-switch]")) {
  select.addEventListener("change", () => {
    const lang = encodeURIComponent(select.value);
    document.cookie = `livedrop_lang=${lang}; Path=/; Max-Age=${YEAR_S}; SameSite=Lax`;
    window.location.reload();
  });
}
