// The skip link: from the top of the page straight to the buying controls (two Tab stops, not 17).
// The target is whichever is there: Buy, the hold's Check out, the first size, or the card itself.

import { byId } from "./dom.js";

export function wireSkipLink() {
  byId("skip-to-buy").addEventListener("click", (event) => {
    const target = ["buy", "hold-checkout", "queue-join"].map((id) => document.getElementById(id))
      .find((node) => node && !node.hidden && !node.disabled && node.offsetParent !== null)
      || document.querySelector("#chips button:not([disabled])")
      || byId("card");
    event.preventDefault();
    if (target.id === "card") target.setAttribute("tabindex", "-1");
    target.focus();
    target.scrollIntoView({ block: "nearest" });
  });
}
