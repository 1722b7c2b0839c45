// The replay page /s/{slug} of an ended, recorded show: the recording plays, and the product card
// follows the video's clock: what the host pinned at 1:20 appears at 1:20, seeking included. Buying
// is the live page's (static/viewer/card.js and buying.js): the same hold and checkout, at the
// product's list price (the show's offers are over; their moment is still shown).

import { api, ApiError } from "./common/api.js";
import { formatMoney, ServerClock } from "./common/format.js";
import { t } from "./common/i18n.js";
import { Bag } from "./viewer/bag.js";
import { Buying } from "./viewer/buying.js";
import { Card } from "./viewer/card.js";
import { byId, makeAnnouncer, setText, show } from "./viewer/dom.js";
import { ShowState } from "./common/show_state.js";
import { Timeline } from "./replay/timeline.js";

const HEARTBEAT_MS = 20_000; // the server forgets a replay viewer after 45 s without one
const TICK_MS = 250;

const page = JSON.parse(byId("livedrop-page").textContent);
const replay = page.replay;
const clock = new ServerClock();
clock.set(replay.server_time);
const video = byId("replay-video");
const root = byId("replay");
const timeline = new Timeline(replay.events, replay.products);

const viewer = {
  slug: replay.show.slug,
  clock,
  // The bag the host kept at the end sells in the replay too, at list price (docs/bag.md).
  state: new ShowState({ show: replay.show, pinned: null, offers: [], stock: replay.stock, bag: replay.bag || [] }),
  announce: makeAnnouncer(byId("announcer")),
  buyer: { id: page.buyer_id || null, name: "" },
  replay: true, // the card sells at list price, as the hold route does for a recorded show (live/sales.py)
  card: null,
  buying: null,
  _buyerPromise: null,

  ensureBuyer() {
    if (this.buyer.id) return Promise.resolve();
    if (!this._buyerPromise) {
      this._buyerPromise = api("/api/buyers", { method: "POST", body: {} })
        .then((made) => { this.buyer.id = made.buyer_id; })
        .finally(() => { this._buyerPromise = null; });
    }
    return this._buyerPromise;
  },

  async loadMe() {
    try {
      const me = await api("/api/buyers/me");
      this.buyer.id = me.buyer_id;
      this.buyer.name = me.name || "";
      return me;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.buyer.id = null;
      throw err;
    }
  },
};
viewer.card = new Card(viewer);
viewer.buying = new Buying(viewer);
viewer.bag = new Bag(viewer);

// -- the card follows the video ---------------------------------------------------------------------

const offerNote = byId("replay-offer");
let shownKey = null;

const noProduct = byId("no-product");

function render() {
  viewer.buying.render();
  viewer.card.render();
  viewer.bag.render();
  show(noProduct, !viewer.state.pinned); // the card hides it outside live shows; a replay says why
}

function follow() {
  const ms = Math.round(video.currentTime * 1000);
  const { pinned, offers } = timeline.at(ms);
  const offer = pinned ? offers.find((o) => o.product_id === pinned.id) : null;
  const key = `${pinned ? pinned.id : ""}:${offer ? offer.id : ""}`;
  if (key === shownKey) return;
  const before = shownKey;
  shownKey = key;
  viewer.state.pinned = pinned;
  if (pinned && viewer.card.selected && !pinned.variants.some((v) => v.sku === viewer.card.selected)) viewer.card.selected = null;
  root.dataset.pinned = pinned ? String(pinned.id) : "";
  root.dataset.offer = offer ? String(offer.id) : "";
  show(offerNote, Boolean(offer));
  if (offer) {
    setText(offerNote, t("replay.offer_over", {
      offer: formatMoney(offer.price_cents, offer.currency || pinned.currency), price: formatMoney(pinned.price_cents, pinned.currency),
    }));
  }
  render();
  if (before !== null && pinned) viewer.announce(t("replay.now_showing", { title: pinned.title }));
}

video.addEventListener("timeupdate", follow);
video.addEventListener("seeked", follow);
video.addEventListener("seeking", follow);
setInterval(() => {
  if (!video.paused) follow();
  viewer.buying.tick?.(clock.now());
  viewer.card.tick?.(clock.now());
  viewer.bag.tick(clock.now());
}, TICK_MS);

// -- replay viewers and stock: a heartbeat, not a socket (live viewers are counted apart) -----------

const viewerId = (() => {
  const key = "livedrop.replay-viewer";
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem(key, id);
  }
  return id;
})();

async function heartbeat() {
  try {
    const answer = await api(`/api/shows/${encodeURIComponent(viewer.slug)}/replay/presence`, {
      method: "POST", body: { viewer_id: viewerId },
    });
    clock.set(answer.server_time);
    Object.assign(viewer.state.stock, answer.stock);
    setText(byId("replay-viewers"), String(answer.replay_viewers));
    render();
  } catch {
    // a missed heartbeat costs a stale count, nothing else: the next one catches up
  }
}

// -- start --------------------------------------------------------------------------------------

follow();
heartbeat();
viewer.loadMe().then((me) => viewer.bag.restore(me)).catch(() => {}); // the buyer's live holds back in the bag
setInterval(heartbeat, HEARTBEAT_MS);
