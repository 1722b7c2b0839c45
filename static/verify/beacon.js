// The draw's public randomness, checked here as the server checks it (live/beacon.py): the drand
// quicknet round's BLS signature under the chain's public key. Scheme bls-unchained-g1-rfc9380: the
// signature (48 bytes, G1) is of sha256(the round as 8 big-endian bytes), hashed to G1 with the
// RFC 9380 suite BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_, under the chain's key on G2. The
// pairing is @noble/curves (static/vendor/noble-curves, audited, MIT), loaded only for an audit
// that has a beacon: a draw without one downloads nothing more.

// drand's quicknet chain: its hash (the audit's beacon.chain) and its public key, both published by
// drand (GET https://api.drand.sh/<hash>/info) and fixed for the chain's life.
export const QUICKNET = {
  hash: "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971",
  scheme: "bls-unchained-g1-rfc9380",
  publicKey: "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a",
};

function fromHex(text) {
  if (typeof text !== "string" || !/^(?:[0-9a-f]{2})*$/.test(text)) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** sha256 of the round number as 8 big-endian bytes: what drand signs for an unchained round. */
async function roundMessage(round) {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(round));
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** True when the beacon names quicknet and its signature verifies for its round; false otherwise
 * (another chain, a malformed signature, a signature of another round or by another key). */
export async function verifyBeacon(beacon) {
  if (!beacon || beacon.chain !== QUICKNET.hash || beacon.scheme !== QUICKNET.scheme) return false;
  const signature = fromHex(beacon.signature);
  if (!signature || signature.length !== 48 || !Number.isSafeInteger(beacon.round) || beacon.round < 1) return false;
  const { bls12_381: curve } = await import("../vendor/noble-curves/bls12-381.js");
  const short = curve.shortSignatures; // signatures on G1, public keys on G2: quicknet's layout
  try {
    return short.verify(signature, short.hash(await roundMessage(beacon.round)), fromHex(QUICKNET.publicKey));
  } catch {
    return false; // not a point on the curve: not a signature at all
  }
}
