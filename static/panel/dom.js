// Small DOM helpers. Data only ever reaches the page as text nodes or attribute values
// (never through innerHTML), so a product title or a chat message cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style") Object.assign(el.style, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

const FLASH_SHOWN = 2; // older notes go: a stack of five covered the lineup and the chat

export function flash(message, kind = "error", ms = 5000) {
  const box = document.getElementById("flash");
  if (!box) return;
  const note = h("p", { class: `alert alert-${kind === "ok" ? "ok" : "error"}` }, message);
  box.append(note);
  while (box.childElementCount > FLASH_SHOWN) box.firstElementChild.remove();
  setTimeout(() => note.remove(), ms);
}

/** Is the user typing somewhere (so a one-key shortcut must not fire)? */
export function typing(event) {
  const t = event.target;
  return t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

/** Re-rendering a list must not throw away the keyboard focus of a host tabbing through it: the
 * focused element's data-focus-key is found again in the new list. */
export function keepingFocus(container, render) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focusKey : null;
  render();
  if (key) container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`)?.focus();
}
