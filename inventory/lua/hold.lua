-- Make a hold: idempotency, stock check, per-customer limit, offer cap, decrement, record. Atomic.
-- KEYS: the version key (common.lua's convention), then this product's avail, buyers, offer_used
--       and due: the same for every press of a sale, so the caller builds them once.
-- ARGV: the sale's terms first (the same for every press on one sale, so the caller packs them
--       once): prefix, the record's sale part ('price\30currency\30offer\30show\30host'),
--       offer_id|'', offer_cap (-1 = all units), offer cap field ('c:<offer>'|''),
--       per_customer_limit, rate_allowed (0 = no limit), buyer_index_ttl_ms;
--       then the press: hold_id, buyer, sku, qty, now_ms, expires_ms, rate window end ms,
--       'i:' .. idempotency_key|'' (the key's field in the buyer's record; last: the lane
--       resends a press that has one, see stock.py)
-- Returns the units left, a bare integer (new: a table reply cost Redis 5,000 instructions more),
--         {2, hold fields...} (replay of the same key) or
--         {0, code[, version, reason]} ({0, 'rate_limited', ms until the window resets};
--         {0, 'insufficient_stock', units that could be held}).
-- 'sold_out' means nothing is left for anyone (so the caller may answer others sold out without
-- asking); a press for more than is left, while some is, is 'insufficient_stock': its own answer.
--
-- What a press costs Redis here is mostly per call and per argument (docs/hold-script.md has the
-- callgrind figures), so:
-- * Every ARGV is a Lua string made and put in a table on every call (~830 instructions each):
--   what the caller can compute (the expiry, the rate window's end, the record's sale part) comes
--   ready, and the fingerprint of an Idempotency-Key's request is made here, only when stored.
-- * tonumber() reads its string twice with strtod (~1,100 instructions); arithmetic on a
--   string reads it once, and the units left come back from HINCRBY as a number, unread.
-- * Numbers handed to redis.call or concatenated are turned into text with sprintf: what goes
--   back to Redis as text stays the ARGV text it came as (the units left in a stored answer are
--   the one number formatted, and only when an Idempotency-Key came).
-- * A local function is a closure made on every call: there is none.
local call, A = redis.call, ARGV  -- locals: a global is a table lookup each time
local sale, oid, cap_arg, cap_field = A[2], A[3], A[4], A[5]
local limit_s, rate_allowed, index_ttl_s = A[6], A[7], A[8]
local hid, buyer, sku, q_s = A[9], A[10], A[11], A[12]
local now_s, exp_s, rate_end_s, idem = A[13], A[14], A[15], A[16]
local K_VER, K_AVAIL, K_BUYERS, K_OFFER_USED, K_DUE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local q = q_s + 0

-- The buyer's record of this product, one hash (ld:{p}:b:<buyer>), read once and written once per
-- press: r = presses in the rate-limit window ("count end_ms"), i:<key> = the answer stored
-- under an Idempotency-Key, h:<hold id> = the buyer's holds (GET /api/buyers/me). A limit that
-- is off costs nothing: with no rate limit and no key it is not read.
local bk = P .. 'b:' .. buyer
local ikf, got = nil, nil
if idem ~= '' then
  ikf = idem
  got = call('HMGET', bk, 'r', ikf)
elseif rate_allowed ~= '0' then
  got = call('HMGET', bk, 'r')
end

-- Buy presses per buyer and product, counted here rather than in a separate call so the drop's
-- hot path is one round trip.
local rate = nil  -- this press counted: the r to write back, whatever the answer
if rate_allowed ~= '0' then
  rate = '1 ' .. rate_end_s
  local seen = got[1]
  if seen then
    local c, e = string.match(seen, '^(%d+) (%d+)$')
    if c then
      local now = now_s + 0
      if e + 0 > now then
        local n = c + 1
        if n > rate_allowed + 0 then return {0, 'rate_limited', e - now} end
        rate = n .. ' ' .. e
      end
    end
  end
end

-- Every answer but a new hold leaves here, once: the press still counts against the rate limit.
local reply = nil
repeat
  if ikf then
    -- The key is scoped to the buyer; the stored answer is returned as it was, even if the hold
    -- has since been released or sold (that is what a retry of the same request must see). One
    -- string (fields joined by \30, which no SKU, price or id contains).
    local prev = got[2]
    if prev then
      local f = {}
      for part in string.gmatch(prev .. '\30', '([^\30]*)\30') do f[#f + 1] = part end
      if f[1] ~= sku .. '\31' .. q_s then reply = {0, 'idempotency_conflict'}; break end
      -- stored: fingerprint, hold id, units left, then the hold's packed record (b, sku, q, p, c, o, sh, ho, x, lim, t)
      reply = {2, f[2], f[5], f[6], f[7], f[8], f[9], f[12], f[3], f[10], f[11]}
      break
    end
  end

  local a = call('HGET', K_AVAIL, sku)
  if not a then
    -- Not loaded at all: Redis was emptied (or never loaded); reconcile must run first.
    if call('EXISTS', P .. 'loaded') == 0 then reply = {0, 'not_on_sale'} else reply = {0, 'unknown_sku'} end
    break
  end
  a = a + 0
  if a <= 0 then reply = {0, 'sold_out', call('GET', K_VER) or '0', 'stock'}; break end
  if a < q then reply = {0, 'insufficient_stock', a}; break end

  -- Units per buyer per product, across sizes, held and bought.
  local bu = call('HGET', K_BUYERS, buyer)
  if (bu and bu + q or q) > limit_s + 0 then reply = {0, 'limit_reached'}; break end

  if oid ~= '' then
    -- The offer's cap is kept in Redis once (open_offer, or the first hold that names the offer),
    -- beside its units used (field c:<offer>), so one HMGET reads both.
    local ou = call('HMGET', K_OFFER_USED, cap_field, oid)
    local cap = ou[1]
    if not cap then
      cap = cap_arg
      call('HSET', K_OFFER_USED, cap_field, cap)
    end
    cap = cap + 0
    if cap >= 0 then
      local used = ou[2]
      used = used and used + 0 or 0
      if used >= cap then reply = {0, 'sold_out', call('GET', K_VER) or '0', 'offer'}; break end
      if used + q > cap then reply = {0, 'insufficient_stock', math.min(cap - used, a)}; break end
    end
    call('HINCRBY', K_OFFER_USED, oid, q_s)
  end
until true
if reply then
  if rate then
    call('HSET', bk, 'r', rate)
    call('PEXPIRE', bk, index_ttl_s)
  end
  return reply
end

-- A number: the units left. A constant for the usual one unit (a concatenation is ~1,000 instructions).
local rem = call('HINCRBY', K_AVAIL, sku, q_s == '1' and '-1' or '-' .. q_s)
call('HINCRBY', K_BUYERS, buyer, q_s)
-- Packed (common.lua's load_record reads it): b, sku, q, p, c, o, sh, ho, x, lim, t.
-- One chain of .. is one Lua CONCAT: no table to build, as table.concat needs.
local packed = buyer .. '\30' .. sku .. '\30' .. q_s .. '\30' .. sale .. '\30' .. exp_s .. '\30' .. limit_s .. '\30' .. now_s
call('HSET', P .. 'hold:' .. hid, 'r', packed)
call('ZADD', K_DUE, exp_s, hid)
call('INCR', K_VER)  -- the stock version (common.lua's bump)
-- The buyer's record: the hold in their index (readers skip ids whose record is gone, so expiry
-- and release need not touch it), the press counted, the answer kept under the key; one HSET.
-- It lives a day after the buyer's last hold here (index_ttl_ms, the idempotency window too).
local hf = 'h:' .. hid
if ikf then
  -- the answer (its request's fingerprint first), and the record it came from
  local stored = sku .. '\31' .. q_s .. '\30' .. hid .. '\30' .. rem .. '\30' .. packed
  if rate then call('HSET', bk, hf, '1', 'r', rate, ikf, stored) else call('HSET', bk, hf, '1', ikf, stored) end
elseif rate then
  call('HSET', bk, hf, '1', 'r', rate)
else
  call('HSET', bk, hf, '1')
end
call('PEXPIRE', bk, index_ttl_s)
-- Everything else of a new hold the caller sent itself: only what Redis alone knows goes back.
return rem
