// Reaction icons drawn as SVG, so they look the same on every device (many desktops and the test
// machines have no colour emoji font). The emoji itself is still what goes over the wire.

const NS = "http://www.w3.org/2000/svg";
const INK = "#4a2e00";
const FACE = "#ffcc33";

const SHAPES = {
  "❤️": [
    ["path", { d: "M12 21s-7.6-4.6-9.7-9.3C.8 8.3 2.9 4.4 6.7 4.4c2.1 0 3.6 1.2 4.3 2.6.8-1.4 2.3-2.6 4.4-2.6 3.8 0 5.9 3.9 4.4 7.3C19.6 16.4 12 21 12 21z", fill: "#ff3d6e" }],
  ],
  "🔥": [
    ["path", { d: "M12 2c1 3.5-1.2 5-2.6 6.8C8 10.6 7 12.2 7 14.5A5 5 0 0 0 12 21a5 5 0 0 0 5-5.5c0-2.3-1.3-3.6-2-5-.4 1.5-1.3 2.3-2.2 2.6C13.6 10 14 6 12 2z", fill: "#ff7a1a" }],
    ["path", { d: "M12 12.6c.9 1.4 2.3 2.3 2.3 4A2.3 2.3 0 0 1 12 19a2.3 2.3 0 0 1-2.3-2.4c0-1.5 1.4-2.4 2.3-4z", fill: "#ffd23f" }],
  ],
  "😂": [
    ["circle", { cx: 12, cy: 12, r: 10, fill: FACE }],
    ["path", { d: "M6.8 9.8q1.6-1.8 3.2 0M14 9.8q1.6-1.8 3.2 0", stroke: INK, "stroke-width": 1.6, fill: "none", "stroke-linecap": "round" }],
    ["path", { d: "M6.5 13h11a5.5 5.5 0 0 1-11 0z", fill: INK }],
    ["path", { d: "M3.2 11.2q-1.6 2.2 0 3.2 1.6-1 0-3.2zM20.8 11.2q-1.6 2.2 0 3.2 1.6-1 0-3.2z", fill: "#49b6ff" }],
  ],
  "😮": [
    ["circle", { cx: 12, cy: 12, r: 10, fill: FACE }],
    ["circle", { cx: 8.8, cy: 9.6, r: 1.4, fill: INK }],
    ["circle", { cx: 15.2, cy: 9.6, r: 1.4, fill: INK }],
    ["ellipse", { cx: 12, cy: 15.6, rx: 2.2, ry: 2.8, fill: INK }],
  ],
  "👏": [
    ["rect", { x: 6.5, y: 7, width: 7, height: 13, rx: 3.5, fill: "#f2b233", transform: "rotate(-18 10 13.5)" }],
    ["rect", { x: 10.5, y: 6.5, width: 7, height: 13, rx: 3.5, fill: FACE, stroke: "#d99a1e", "stroke-width": 1, transform: "rotate(14 14 13)" }],
    ["path", { d: "M4 4.5l1.6 2M7.6 2.5l.4 2.4M2.5 8l2.3.6", stroke: "#ffd23f", "stroke-width": 1.6, "stroke-linecap": "round" }],
  ],
  "👍": [
    ["rect", { x: 2.5, y: 10, width: 4, height: 11, rx: 1, fill: "#49b6ff" }],
    ["path", { d: "M7.5 10.2l3.6-6.6c1.6-.2 2.8 1 2.4 2.7L12.8 9.4H19a2 2 0 0 1 2 2.3l-1.3 7.4A2.2 2.2 0 0 1 17.5 21H7.5z", fill: FACE }],
  ],
};

/** An <svg> for a reaction emoji, decorative (the button carries the label). */
export function reactionIcon(emoji, size = 24) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const [tag, attrs] of SHAPES[emoji] || []) {
    const shape = document.createElementNS(NS, tag);
    for (const [name, value] of Object.entries(attrs)) shape.setAttribute(name, String(value));
    svg.append(shape);
  }
  return svg;
}
