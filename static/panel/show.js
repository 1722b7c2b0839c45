// The show screen: lineup with pin/unpin, the offer composer with its countdowns, live figures
// and the sales chart, chat moderation and the show's orders. Live state comes from the show's
// WebSocket; figures that need the server's books come from GET /api/shows/{slug}/stats, polled
// every 2 s and right after a sale.

import { api, ApiFailure } from "./api.js";
import { drawSales } from "./chart.js";
import { $, clear, flash, h, typing } from "./dom.js";
import { clock, countdown, money, moneyInput, parseMoney, percent, plural } from "./format.js";
import { copyText, embedSnippet } from "./embed.js";
import { ShowSocket } from "./live.js";

const screen = $("#show-screen");
const slug = screen.dataset.slug;
const publicBase = screen.dataset.publicBase;
const path = `/api/shows/${encodeURIComponent(slug)}`;
const STATS_EVERY_MS = 2000;

const state = {
  show: null,
  products: [],
  pinnedId: null,
  stock: {}, // sku -> units available
  offers: new Map(), // id -> offer
  chat: [],
  muted: new Set(),
  viewers: 0,
  peak: 0,
  stats: null,
  ordersShown: -1,
  lastOffer: JSON.parse(sessionStorage.getItem(`livedrop.lastOffer.${slug}`) || "null"),
};

function message(err) {
  return err instanceof ApiFailure ? err.message : String(err);
}

async function act(button, work, done) {
  if (button) button.disabled = true;
  try {
    const result = await work();
    if (done) flash(done, "ok", 2500);
    return result;
  } catch (err) {
    flash(message(err));
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// -- the show --------------------------------------------------------------------------------------

function renderShow() {
  const show = state.show;
  if (!show) return;
  $("#show-title").textContent = show.title;
  $("#show-title").title = show.title;
  document.title = `${show.title} · livedrop`;
  renderStream();
  const badge = $("#show-status");
  badge.textContent = show.status;
  badge.dataset.status = show.status;
  $("#go-live").hidden = show.status !== "scheduled";
  $("#end-show").hidden = show.status !== "live";
}

$("#go-live").addEventListener("click", (e) => act(e.currentTarget, async () => {
  state.show = await api("POST", `${path}/start`);
  renderShow();
}, "You are live."));

$("#end-show").addEventListener("click", (e) => {
  if (!window.confirm("End the show? Offers end and viewers can no longer buy.")) return;
  act(e.currentTarget, async () => {
    state.show = await api("POST", `${path}/end`);
    renderShow();
  }, "The show has ended.");
});

$("#embed-snippet").value = embedSnippet(publicBase, { slug, title: $("#show-title").textContent });
$("#copy-embed").addEventListener("click", async () => {
  const copied = await copyText($("#embed-snippet").value, $("#embed-snippet"));
  flash(copied ? "Embed snippet copied." : "Press Ctrl+C to copy the selected snippet.", "ok", 2500);
});

// -- lineup and pin --------------------------------------------------------------------------------

/** Re-rendering a list must not throw away the keyboard focus of a host tabbing through it. */
function keepingFocus(container, render) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focusKey : null;
  render();
  if (key) container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`)?.focus();
}

function renderLineup() {
  keepingFocus($("#lineup"), drawLineup);
  renderOfferProducts();
}

function drawLineup() {
  const list = clear($("#lineup"));
  $("#lineup-empty").hidden = state.products.length > 0;
  for (const p of state.products) {
    const pinned = p.id === state.pinnedId;
    const stockChips = p.variants.map((v) => {
      const left = state.stock[v.sku];
      return h("span", { class: `chip${left === 0 ? " out" : ""}`, dataset: { sku: v.sku, label: v.label } },
        `${v.label}: ${left === undefined ? v.stock : left}`);
    });
    list.append(h("li", { class: pinned ? "pinned" : "", dataset: { productId: p.id } },
      p.image_url ? h("img", { class: "thumb thumb-small", src: p.image_url, alt: "" }) : h("div", { class: "thumb thumb-small", "aria-hidden": "true" }),
      h("div", {},
        h("div", { class: "title" }, p.title),
        h("div", { class: "muted small" }, money(p.price_cents, p.currency)),
        h("div", { class: "chips" }, stockChips)),
      h("div", { class: "actions" },
        h("button", {
          type: "button", class: "btn btn-small", "aria-pressed": pinned ? "true" : "false", dataset: { focusKey: `pin-${p.id}` },
          "aria-label": pinned ? `Unpin ${p.title}` : `Pin ${p.title}`,
          onclick: (e) => (pinned ? unpin(e.currentTarget) : pin(p.id, e.currentTarget)),
        }, pinned ? "Pinned · unpin" : "Pin"),
        h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": `Compose an offer for ${p.title}`,
          dataset: { focusKey: `offer-${p.id}` }, onclick: () => composeFor(p) }, "Offer…"))));
  }
}

/** Stock moves many times a second in a drop: change the numbers, not the elements. */
function showStock() {
  for (const chip of document.querySelectorAll("#lineup .chip[data-sku]")) {
    const left = state.stock[chip.dataset.sku];
    if (left === undefined) continue;
    chip.textContent = `${chip.dataset.label}: ${left}`;
    chip.classList.toggle("out", left === 0);
  }
  for (const cell of document.querySelectorAll("#sizes td.left[data-sku]")) {
    const left = state.stock[cell.dataset.sku];
    if (left !== undefined) cell.textContent = String(left);
  }
  for (const line of document.querySelectorAll("#offers [data-remaining-of]")) {
    const offer = state.offers.get(Number(line.dataset.remainingOf));
    if (offer) line.textContent = offerTerms(offer);
  }
}

async function pin(productId, button) {
  const product = state.products.find((p) => p.id === productId);
  await act(button, async () => {
    await api("PUT", `${path}/pin`, { product_id: productId });
    state.pinnedId = productId;
    renderLineup();
  }, product ? `Pinned “${product.title}”.` : null);
}

async function unpin(button) {
  await act(button, async () => {
    await api("DELETE", `${path}/pin`);
    state.pinnedId = null;
    renderLineup();
  }, "Unpinned.");
}

function pinNext() {
  if (!state.products.length) return flash("No products to pin yet.");
  const at = state.products.findIndex((p) => p.id === state.pinnedId);
  const next = state.products[(at + 1) % state.products.length];
  return pin(next.id, null);
}

// -- offers ----------------------------------------------------------------------------------------

function renderOfferProducts() {
  const select = $("#offer-product");
  const chosen = select.value;
  clear(select);
  for (const p of state.products) select.append(h("option", { value: p.id }, `${p.title} (${money(p.price_cents, p.currency)})`));
  if (chosen && state.products.some((p) => String(p.id) === chosen)) select.value = chosen;
  else if (state.pinnedId) select.value = String(state.pinnedId);
  fillPrice(false);
}

function selectedProduct() {
  return state.products.find((p) => String(p.id) === $("#offer-product").value) || null;
}

function fillPrice(force) {
  const p = selectedProduct();
  const price = $("#offer-price");
  if (p && (force || !price.value)) price.value = moneyInput(p.price_cents, p.currency);
}

$("#offer-product").addEventListener("change", () => fillPrice(true));

function composeFor(p) {
  $("#offer-product").value = String(p.id);
  fillPrice(true);
  $("#offer-price").focus();
  $("#offer-price").select();
}

async function startOffer(spec, button) {
  const offer = await act(button, () => api("POST", `${path}/offers`, spec), "Offer started.");
  if (offer) {
    state.lastOffer = spec;
    sessionStorage.setItem(`livedrop.lastOffer.${slug}`, JSON.stringify(spec));
    state.offers.set(offer.id, offer);
    renderOffers();
  }
}

$("#offer-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const p = selectedProduct();
  if (!p) return flash("Choose a product for the offer.");
  const price = parseMoney($("#offer-price").value, p.currency);
  if (price === null) return flash("Offer price: write it like 99.00.");
  const spec = {
    product_id: p.id,
    price_cents: price,
    duration_s: Number.parseInt($("#offer-duration").value, 10),
    per_customer_limit: Number.parseInt($("#offer-limit").value, 10),
    hold_s: Number.parseInt($("#offer-hold").value, 10),
  };
  const quantity = $("#offer-quantity").value.trim();
  if (quantity) spec.quantity = Number.parseInt(quantity, 10);
  startOffer(spec, $("#offer-start"));
});

function repeatLastOffer() {
  if (!state.lastOffer) return flash("No offer started from this screen yet.");
  return startOffer({ ...state.lastOffer }, $("#offer-start"));
}

function offerTerms(o) {
  return `${o.remaining ?? "all"} of ${o.quantity ?? "all"} left · ${o.per_customer_limit} per customer · hold ${o.hold_s}s`;
}

function renderOffers() {
  keepingFocus($("#offers"), drawOffers);
}

function drawOffers() {
  const list = clear($("#offers"));
  const now = socket.now();
  const shown = [...state.offers.values()]
    .filter((o) => o.state !== "ended" || now - o.ends_at < 15000)
    .sort((a, b) => b.id - a.id);
  if (!shown.length) list.append(h("li", { class: "muted small" }, "No offer running. Compose one above; it starts at once."));
  for (const o of shown) {
    const product = state.products.find((p) => p.id === o.product_id);
    const currency = o.currency || product?.currency || "USD";
    list.append(h("li", { dataset: { offerId: o.id, state: o.state } },
      h("div", { class: "grow" },
        h("strong", {}, o.title || product?.title || `Product ${o.product_id}`), " ",
        h("span", {}, money(o.price_cents, currency)),
        h("div", { class: "muted small", dataset: { remainingOf: o.id } }, offerTerms(o))),
      h("span", { class: "countdown", dataset: { endsAt: o.ends_at, startsAt: o.starts_at, state: o.state }, "aria-label": "time left" }, ""),
      o.state !== "ended"
        ? h("button", { type: "button", class: "btn btn-small btn-danger", dataset: { focusKey: `end-${o.id}` },
          onclick: (e) => endOffer(o, e.currentTarget) }, "End now")
        : h("span", { class: "muted small" }, "ended")));
  }
  tick();
}

async function endOffer(offer, button) {
  await act(button, async () => {
    await api("DELETE", `${path}/offers/${offer.id}`);
    state.offers.set(offer.id, { ...offer, state: "ended", ends_at: Math.min(offer.ends_at, socket.now()) });
    renderOffers();
  }, "Offer ended.");
}

function tick() {
  const now = socket.now();
  for (const el of document.querySelectorAll(".countdown")) {
    const s = el.dataset.state;
    if (s === "ended") el.textContent = "0:00";
    else if (now < Number(el.dataset.startsAt)) el.textContent = `starts in ${countdown(Number(el.dataset.startsAt) - now)}`;
    else el.textContent = countdown(Number(el.dataset.endsAt) - now);
  }
}
setInterval(tick, 250);

// -- chat ------------------------------------------------------------------------------------------

function chatItem(m) {
  const who = m.name || "viewer";
  const item = h("li", { dataset: { messageId: m.id, buyerId: m.buyer_id } },
    h("div", {}, h("span", { class: "name" }, who), h("span", { class: "muted small" }, clock(m.ts))),
    h("div", { class: "text" }, m.text));
  const tools = h("div", { class: "tools" },
    h("button", { type: "button", class: "btn btn-small", "aria-label": `Delete message from ${who}`,
      onclick: (e) => act(e.currentTarget, async () => {
        await api("DELETE", `${path}/chat/${m.id}`);
        removeMessage(m.id);
      }, "Message deleted.") }, "Delete"));
  if (state.muted.has(m.buyer_id)) tools.append(h("span", { class: "muted-note" }, "muted"));
  else tools.append(h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": `Mute ${m.name || "this viewer"}`,
    onclick: (e) => act(e.currentTarget, async () => {
      await api("POST", `${path}/mutes`, { buyer_id: m.buyer_id });
      state.muted.add(m.buyer_id);
      for (const el of document.querySelectorAll("#chat li[data-buyer-id]")) {
        if (el.dataset.buyerId === m.buyer_id) {
          const button = el.querySelector(".tools button:last-child");
          if (button && button.textContent === "Mute") button.replaceWith(h("span", { class: "muted-note" }, "muted"));
        }
      }
    }, `${who} is muted in this show.`) }, "Mute"));
  item.append(tools);
  return item;
}

function renderChat() {
  const list = clear($("#chat"));
  for (const m of state.chat) list.append(chatItem(m));
  chatEmptyNote();
  list.scrollTop = list.scrollHeight;
}

function chatEmptyNote() {
  const list = $("#chat");
  const note = list.querySelector(".empty");
  if (!state.chat.length && !note) list.append(h("li", { class: "muted small empty" }, "No messages yet."));
  if (state.chat.length && note) note.remove();
}

function addMessage(m) {
  if (state.chat.some((x) => x.id === m.id)) return;
  const list = $("#chat");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  state.chat.push(m);
  list.append(chatItem(m));
  while (state.chat.length > 200) {
    const old = state.chat.shift();
    list.querySelector(`li[data-message-id="${old.id}"]`)?.remove();
  }
  chatEmptyNote();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function removeMessage(id) {
  state.chat = state.chat.filter((m) => m.id !== id);
  $("#chat").querySelector(`li[data-message-id="${Number(id)}"]`)?.remove();
  chatEmptyNote();
}

// -- figures ---------------------------------------------------------------------------------------

function renderFigures() {
  const s = state.stats;
  state.peak = Math.max(state.peak, state.viewers, s ? s.peak_viewers : 0);
  $("#fig-viewers").textContent = String(state.viewers);
  $("#fig-peak").textContent = String(state.peak);
  if (!s) return;
  $("#fig-holds").textContent = String(s.live_holds);
  $("#fig-units").textContent = String(s.units_sold);
  const revenue = Object.entries(s.revenue);
  $("#fig-revenue").textContent = revenue.length ? revenue.map(([c, cents]) => money(cents, c)).join(" + ") : money(0, state.products[0]?.currency || "USD");
  $("#fig-revenue").title = $("#fig-revenue").textContent;
  const conversion = state.peak ? s.buyers / state.peak : null;
  $("#fig-conversion").textContent = percent(conversion);
  $("#fig-conversion").title = `${plural(s.buyers, "buyer", "buyers")} / ${plural(state.peak, "peak viewer", "peak viewers")}`;
  const sizes = clear($("#sizes"));
  if (!s.sizes.length) sizes.append(h("tr", {}, h("td", { colspan: 5, class: "muted small" }, "Pin a product or start an offer to see its sizes here.")));
  let product = null;
  for (const size of s.sizes) {
    const share = size.sell_through ?? 0;
    if (size.product_id !== product) {
      product = size.product_id;
      sizes.append(h("tr", { class: "group" }, h("th", { colspan: 5, scope: "colgroup", title: size.title }, size.title)));
    }
    sizes.append(h("tr", { dataset: { sku: size.sku } },
      h("td", { title: size.sku }, size.label, " ", h("span", { class: "muted small" }, size.sku)),
      h("td", {}, String(size.sold)),
      h("td", {}, String(size.held)),
      h("td", { class: "left", dataset: { sku: size.sku } }, String(state.stock[size.sku] ?? size.available)),
      h("td", {}, h("div", { class: "meter" },
        h("span", { class: "track", role: "img", "aria-label": `${percent(size.sell_through)} sold` },
          h("span", { class: "fill", style: { width: `${Math.min(100, share * 100)}%` } })),
        h("span", { class: "small" }, percent(size.sell_through))))));
  }
  drawSales($("#sales-chart"), s.sales_over_time);
  if (s.orders !== state.ordersShown) loadOrders(s.orders);
}

let statsTimer = null;
let statsBusy = false;
let statsAt = 0;
const SOONEST_AFTER_SALE_MS = 1000;

/** A sale was announced: fetch the books now, or as soon as a second has passed since the last fetch. */
function statsSoon() {
  if (statsBusy) return;
  clearTimeout(statsTimer);
  statsTimer = setTimeout(refreshStats, Math.max(0, statsAt + SOONEST_AFTER_SALE_MS - Date.now()));
}

async function refreshStats() {
  clearTimeout(statsTimer);
  if (statsBusy) return;
  statsBusy = true;
  statsAt = Date.now();
  try {
    state.stats = await api("GET", `${path}/stats`);
    renderFigures();
  } catch (err) {
    if (!(err instanceof ApiFailure && err.code === "network")) flash(message(err));
  } finally {
    statsBusy = false;
    statsTimer = setTimeout(refreshStats, STATS_EVERY_MS);
  }
}

async function loadOrders(count) {
  state.ordersShown = count;
  try {
    const { orders } = await api("GET", `${path}/orders`);
    $("#orders-count").textContent = `(${orders.length})`;
    const body = clear($("#orders"));
    if (!orders.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted small" }, "No orders yet.")));
    for (const o of [...orders].reverse()) {
      body.append(h("tr", { dataset: { orderId: o.order_id } },
        h("td", {}, h("a", { href: o.receipt_url, target: "_blank", rel: "noopener" }, o.number)),
        h("td", {}, clock(o.created_at)),
        h("td", {}, o.name),
        h("td", {}, o.lines.map((l) => `${l.quantity} × ${l.label} (${l.sku})`).join(", ")),
        h("td", {}, money(o.total_cents, o.currency))));
    }
  } catch (err) {
    state.ordersShown = -1;
    flash(message(err));
  }
}

// -- the external stream ---------------------------------------------------------------------------

function renderStream() {
  // A show frame (this or another tab saved it) updates the field, unless the host is typing in it.
  const input = $("#stream-url");
  if (state.show && document.activeElement !== input) input.value = state.show.stream_url || "";
}

$("#stream-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const url = $("#stream-url").value.trim();
  act($("#stream-save"), async () => {
    state.show = await api("PATCH", path, { stream_url: url || null });
    renderShow();
  }, url ? "Stream URL saved: viewers play it now." : "Stream URL cleared: viewers play the camera.");
});

// -- the live feed ---------------------------------------------------------------------------------

function onFrame(frame) {
  switch (frame.type) {
    case "snapshot":
      state.show = frame.show;
      state.pinnedId = frame.pinned ? frame.pinned.id : null;
      state.stock = { ...frame.stock };
      state.offers = new Map(frame.offers.map((o) => [o.id, o]));
      state.chat = frame.chat.slice();
      state.viewers = frame.viewers;
      renderShow();
      renderLineup();
      renderOffers();
      renderChat();
      renderFigures();
      break;
    case "show":
      state.show = frame.show || frame;
      renderShow();
      break;
    case "pin":
      state.pinnedId = frame.product_id;
      Object.assign(state.stock, frame.stock || {});
      renderLineup();
      break;
    case "unpin":
      state.pinnedId = null;
      renderLineup();
      break;
    case "offer":
      state.offers.set(frame.id, frame);
      renderOffers();
      break;
    case "stock":
      Object.assign(state.stock, frame.stock);
      for (const [id, left] of Object.entries(frame.offers || {})) {
        const offer = state.offers.get(Number(id));
        if (offer) offer.remaining = left;
      }
      showStock();
      break;
    case "viewers":
      state.viewers = frame.viewers;
      renderFigures();
      break;
    case "chat":
      addMessage({ id: frame.id, buyer_id: frame.buyer_id, name: frame.name, text: frame.text, ts: frame.ts });
      break;
    case "chat_deleted":
      removeMessage(frame.id);
      break;
    case "sold":
      statsSoon(); // the books have a new order: figures and chart now, not at the next poll
      break;
    default:
      break;
  }
}

const socket = new ShowSocket(slug, {
  onFrame,
  onState: (s) => {
    $("#conn-state").textContent = { live: "connected", connecting: "connecting…", reconnecting: "reconnecting…", gone: "show not found" }[s] || s;
  },
});

// -- keyboard shortcuts ----------------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
  const key = event.key.toLowerCase();
  if (key === "n") {
    event.preventDefault();
    pinNext();
  } else if (key === "r") {
    event.preventDefault();
    repeatLastOffer();
  }
});

// -- start -----------------------------------------------------------------------------------------

api("GET", "/api/products")
  .then(({ products }) => {
    state.products = products;
    renderLineup();
  })
  .catch((err) => flash(message(err)));
refreshStats();
