// Small DOM helpers for the viewer. Text from the server (titles, chat, names) only ever goes in
// through textContent or attribute setters, never as HTML.

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node;
}

/** el("li", {className: "x", dataset: {id: 1}}, "text", childNode) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("aria-") || key === "role") node.setAttribute(key, String(value));
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export function show(node, visible) {
  if (node.hidden === !visible) return;
  node.hidden = !visible;
}

/** Polite screen-reader announcements. The same sentence twice in a row is still spoken. */
export function makeAnnouncer(region) {
  let timer = null;
  return (text) => {
    clearTimeout(timer);
    region.textContent = "";
    timer = setTimeout(() => {
      region.textContent = text;
    }, 50);
  };
}

export const reducedMotion = () => window.matchMedia("(prefers-reduced-motion: reduce)").matches;
