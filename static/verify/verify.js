// The draw's audit, recomputed in the browser with Web Crypto (docs/draws.md): the commitment,
// the entries' hash, the seed, every rank, every winner. It says "verified" or where it differs.

import { t } from "../common/i18n.js";
import { hmac } from "../vendor/noble-hashes/hmac.js";
import { sha256 as sha256Js } from "../vendor/noble-hashes/sha2.js";
import { verifyBeacon } from "./beacon.js";

const TEXT = {
  get verified() { return t("verify.verified"); },
  differs: (where) => t("verify.differs", { where }),
  get notDrawn() { return t("verify.not_drawn"); },
  get loadFailed() { return t("verify.load_failed"); },
  get checking() { return t("verify.checking"); },
  get commitment() { return t("verify.commitment"); },
  entriesHash: (n) => t("verify.entries_hash", { n }),
  get seed() { return t("verify.seed"); },
  ranks: (n) => t("verify.ranks", { n }),
  winners: (sku, units) => t("verify.winners", { sku, n: units }),
  get noBeacon() { return t("verify.no_beacon"); },
  beacon: (round) => t("verify.beacon", { round: String(round) }),
  beaconHash: (round) => t("verify.beacon_hash", { round: String(round) }),
  beaconSignature: (round) => t("verify.beacon_signature", { round: String(round) }),
  get notFound() { return t("verify.not_found"); },
  excluded: (reason) => t("verify.excluded", { reason }),
  entry: (e, outcome) => t("verify.entry", { id: e.entry_id, sku: e.sku, rank: e.rank, outcome }),
  get won() { return t("verify.won"); },
  get handedOver() { return t("verify.handed_over"); },
  get notPicked() { return t("verify.not_picked"); },
  failWhere: {
    get commitment() { return t("verify.fail_commitment"); },
    get entriesHash() { return t("verify.fail_entries_hash"); },
    get seed() { return t("verify.fail_seed"); },
    get beacon() { return t("verify.fail_beacon"); },
    get beaconSignature() { return t("verify.fail_beacon_signature"); },
    ranks: (id) => t("verify.fail_ranks", { id }),
    winners: (sku) => t("verify.fail_winners", { sku }),
  },
};

const encoder = new TextEncoder();

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hexOf(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 1) out += HEX[bytes[i]];
  return out;
}

const SAMPLE = 32; // rank keys checked again with Web Crypto

/** Every entry's rank key, lowercase hex HMAC-SHA256(seed, entry_id), in the order of `ids`; null
 * when the sample checked with Web Crypto disagrees. One crypto.subtle.sign per entry cost ~5 s for
 * 100,000 entries (a promise and a thread hop each); noble's HMAC (static/vendor/noble-hashes) with
 * the keyed state made once and copied per entry, as live/draw_order.py does, takes well under one. */
async function rankKeys(seed, ids) {
  const keyed = hmac.create(sha256Js, seed);
  const keys = new Array(ids.length);
  let mac;
  for (let i = 0; i < ids.length; i += 1) {
    mac = keyed._cloneInto(mac);
    mac.update(encoder.encode(ids[i]));
    keys[i] = hexOf(mac.digest());
  }
  const key = await crypto.subtle.importKey("raw", seed, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const step = Math.max(1, Math.floor(ids.length / SAMPLE));
  for (let i = 0; i < ids.length; i += step) {
    if (hex(await crypto.subtle.sign("HMAC", key, encoder.encode(ids[i]))) !== keys[i]) return null;
  }
  return keys;
}

/** The checks, in order; each {ok, label, where?}. Stops at the first that fails (the rest depend on it). */
export async function verifyAudit(audit) {
  const checks = [];
  const secret = fromHex(audit.secret);
  const commitmentOk = hex(await sha256(secret)) === audit.commitment;
  checks.push({ ok: commitmentOk, label: TEXT.commitment, where: TEXT.failWhere.commitment });
  const ids = audit.entries.map((e) => e.entry_id).concat(audit.excluded.map((x) => x.entry_id));
  ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));  // entry ids are ASCII: the same order as Python's
  const entriesHash = hex(await sha256(encoder.encode(ids.join("\n"))));
  checks.push({ ok: entriesHash === audit.entries_hash, label: TEXT.entriesHash(ids.length), where: TEXT.failWhere.entriesHash });
  const beacon = audit.beacon ? fromHex(audit.beacon.randomness) : new Uint8Array(0);
  if (audit.beacon) {  // the round's BLS signature under drand's key (./beacon.js), and its randomness is the signature's hash
    const signed = await verifyBeacon(audit.beacon);
    checks.push({ ok: signed, label: TEXT.beaconSignature(audit.beacon.round), where: TEXT.failWhere.beaconSignature });
    const ok = hex(await sha256(fromHex(audit.beacon.signature))) === audit.beacon.randomness;
    checks.push({ ok, label: TEXT.beaconHash(audit.beacon.round), where: TEXT.failWhere.beacon });
  }
  const seed = await sha256(concat(encoder.encode(audit.algorithm), secret, fromHex(entriesHash), beacon));
  checks.push({ ok: hex(seed) === audit.seed, label: TEXT.seed, where: TEXT.failWhere.seed });
  const keys = await rankKeys(seed, audit.entries.map((e) => e.entry_id));
  const keyed = audit.entries.map((e, i) => ({ e, k: keys ? keys[i] : "" }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  const wrong = keys ? keyed.find((x, i) => x.e.rank !== i + 1) : keyed[0];
  checks.push({ ok: !wrong, label: TEXT.ranks(keyed.length), where: wrong ? TEXT.failWhere.ranks(wrong.e.entry_id) : "" });
  const skipped = new Set(audit.voids.filter((v) => v.at_draw).map((v) => v.entry_id));
  for (const [sku, units] of Object.entries(audit.units || {})) {
    const best = keyed.filter((x) => x.e.sku === sku && !skipped.has(x.e.entry_id)).slice(0, units).map((x) => x.e.entry_id);
    const won = audit.winners.filter((w) => w.sku === sku).map((w) => w.entry_id);
    const ok = best.length === won.length && best.every((id, i) => id === won[i]);
    checks.push({ ok, label: TEXT.winners(sku, units), where: TEXT.failWhere.winners(sku) });
  }
  return checks;
}

function show(checks, audit) {
  const list = document.getElementById("checks");
  list.replaceChildren(...checks.map((c) => {
    const li = document.createElement("li");
    li.className = c.ok ? "ok" : "bad";
    li.textContent = `${c.ok ? "✓" : "✗"} ${c.label}`;
    return li;
  }));
  const note = document.createElement("li");
  note.textContent = audit.beacon ? TEXT.beacon(audit.beacon.round) : TEXT.noBeacon;
  list.append(note);
  const failed = checks.filter((c) => !c.ok);
  const verdict = document.getElementById("verdict");
  verdict.textContent = failed.length ? TEXT.differs(failed.map((c) => c.where).join("; ")) : TEXT.verified;
  verdict.dataset.state = failed.length ? "differs" : "verified";
}

function findEntry(audit, id) {
  const excluded = audit.excluded.find((x) => x.entry_id === id);
  if (excluded) return TEXT.excluded(excluded.reason);
  const entry = audit.entries.find((e) => e.entry_id === id);
  if (!entry) return TEXT.notFound;
  const won = audit.winners.some((w) => w.entry_id === id);
  const handed = audit.handovers.some((h) => h.to_entry_id === id);
  return TEXT.entry(entry, won ? TEXT.won : handed ? TEXT.handedOver : TEXT.notPicked);
}

async function main() {
  const root = document.getElementById("verify");
  const verdict = document.getElementById("verdict");
  verdict.textContent = TEXT.checking;
  let audit;
  try {
    const answer = await fetch(root.dataset.auditUrl, { cache: "no-store" });
    if (!answer.ok) throw new Error(String(answer.status));
    audit = await answer.json();
  } catch {
    verdict.textContent = TEXT.loadFailed;
    return;
  }
  const form = document.getElementById("find");
  const input = document.getElementById("entry");
  input.value = new URLSearchParams(location.search).get("entry") || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    document.getElementById("found").textContent = findEntry(audit, input.value.trim());
  });
  if (!audit.secret) {
    verdict.textContent = TEXT.notDrawn;
    verdict.dataset.state = "pending";
    return;
  }
  const started = performance.now();
  show(await verifyAudit(audit), audit);
  verdict.dataset.ms = String(Math.round(performance.now() - started));
  if (input.value) form.requestSubmit();
}

main();
