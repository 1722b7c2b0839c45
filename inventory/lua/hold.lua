-- Make a hold: idempotency, stock check, per-customer limit, offer cap, decrement, record. Atomic.
-- ARGV: the sale's terms first (the same for every press on one sale, so the caller packs them
--       once): prefix, unit_price, currency, offer_id|'', offer_cap (-1 = all units),
--       per_customer_limit, hold_ms, show_id|'', host_id|'', idempotency_ttl_ms,
--       rate_allowed (0 = no limit), rate_window_ms, buyer_index_ttl_ms;
--       then the press: hold_id, buyer, sku, qty, now_ms, fingerprint, idempotency_key|''
-- Returns {1, units left} (new), {2, hold fields...} (replay of the same key) or
--         {0, code[, version, reason]} ({0, 'rate_limited', ms until the window resets};
--         {0, 'insufficient_stock', units that could be held}).
-- 'sold_out' means nothing is left for anyone (so the caller may answer others sold out without
-- asking); a press for more than is left, while some is, is 'insufficient_stock': its own answer.
local price, cur, oid = ARGV[2], ARGV[3], ARGV[4]
local limit, hold_ms = tonumber(ARGV[6]), tonumber(ARGV[7])
local show, host = ARGV[8], ARGV[9]
local idem_ttl = tonumber(ARGV[10])
local rate_allowed, rate_window, index_ttl = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local hid, buyer, sku = ARGV[14], ARGV[15], ARGV[16]
local q, now, fp, idem = tonumber(ARGV[17]), tonumber(ARGV[18]), ARGV[19], ARGV[20]

-- Buy presses per buyer (per product: the key must share this product's hash tag), counted here
-- rather than in a separate call so the drop's hot path is one round trip.
if rate_allowed > 0 then
  local rk = P .. 'rl:' .. buyer
  local n = redis.call('INCR', rk)
  if n == 1 then redis.call('PEXPIRE', rk, rate_window) end
  if n > rate_allowed then return {0, 'rate_limited', redis.call('PTTL', rk)} end
end

local ik = nil
if idem ~= '' then
  -- The key is scoped to the buyer; the stored answer is returned as it was, even if the hold
  -- has since been released or sold (that is what a retry of the same request must see). One
  -- string (fields joined by \30, which no SKU, price or id contains): a SET and a GET are the
  -- cheapest writes and reads there are, and every successful hold pays for one.
  ik = P .. 'idem:' .. buyer .. ':' .. idem
  local prev = redis.call('GET', ik)
  if prev then
    local f = {}
    for part in string.gmatch(prev .. '\30', '([^\30]*)\30') do f[#f + 1] = part end
    if f[1] ~= fp then return {0, 'idempotency_conflict'} end
    return {2, f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11]}
  end
end

local a = redis.call('HGET', P .. 'avail', sku)
if not a then
  -- Not loaded at all: Redis was emptied (or never loaded); reconcile must run first.
  if redis.call('EXISTS', P .. 'loaded') == 0 then return {0, 'not_on_sale'} end
  return {0, 'unknown_sku'}
end
a = tonumber(a)
if a <= 0 then return {0, 'sold_out', redis.call('GET', KEYS[1]) or '0', 'stock'} end
if a < q then return {0, 'insufficient_stock', a} end

-- Units per buyer per product, across sizes, held and bought.
local bu = tonumber(redis.call('HGET', P .. 'buyers', buyer) or '0')
if bu + q > limit then return {0, 'limit_reached'} end

if oid ~= '' then
  -- The offer's cap is kept in Redis once (open_offer, or the first hold that names the offer).
  local cap = redis.call('HGET', P .. 'offers', oid)
  if not cap then
    cap = ARGV[5]
    redis.call('HSET', P .. 'offers', oid, cap)
  end
  cap = tonumber(cap)
  if cap >= 0 then
    local used = tonumber(redis.call('HGET', P .. 'offer_used', oid) or '0')
    if used >= cap then return {0, 'sold_out', redis.call('GET', KEYS[1]) or '0', 'offer'} end
    if used + q > cap then return {0, 'insufficient_stock', math.min(cap - used, a)} end
  end
  redis.call('HINCRBY', P .. 'offer_used', oid, q)
end

redis.call('HINCRBY', P .. 'avail', sku, -q)
redis.call('HINCRBY', P .. 'held', sku, q)
redis.call('HINCRBY', P .. 'buyers', buyer, q)
local exp = now + hold_ms
redis.call('HSET', P .. 'hold:' .. hid,
  'b', buyer, 'sku', sku, 'q', q, 'p', price, 'c', cur, 'o', oid, 'sh', show, 'ho', host,
  'x', exp, 'st', 'held', 'lim', limit, 'att', 0, 'ev', 0, 'em', '', 'ld', 0, 'det', '', 't', now)
redis.call('ZADD', P .. 'due', exp, hid)
-- The buyer's holds of this product, for GET /api/buyers/me (an index: readers skip ids whose
-- record is gone, so expiry and release need not touch it).
local bh = P .. 'bh:' .. buyer
redis.call('SADD', bh, hid)
redis.call('PEXPIRE', bh, index_ttl)
bump()
local rem = a - q
if ik then
  redis.call('SET', ik, table.concat({fp, hid, sku, q, price, cur, oid, exp, rem, show, host}, '\30'), 'PX', idem_ttl)
end
-- Everything else of a new hold the caller sent itself: only what Redis alone knows goes back.
return {1, rem}
