-- Checkout step 1: lock the hold so no sweeper returns its units while the card is charged, and
-- reserve the units against the buyer's email (per-email limit, atomic with the lock).
-- ARGV: prefix, hold_id, buyer, now_ms, lock_deadline_ms, email, details_json
-- Returns {1, record} (locked now, or already locked by this same email: a retry),
--         {3, record} (already sold: the caller looks up the order), or {0, code}.
local hid, buyer, now, deadline, email, details = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]
local key = P .. 'hold:' .. hid
local rec = load_record(key)
if not rec then return {0, 'hold_expired'} end
if rec.b ~= buyer then return {0, 'not_found'} end
if rec.st == 'sold' then return {3, redis.call('HGETALL', key)} end
if rec.st == 'locked' then
  if rec.em ~= email then return {0, 'hold_locked'} end
  redis.call('HSET', key, 'ld', deadline)
  redis.call('ZADD', P .. 'due', deadline, hid)
  return {1, redis.call('HGETALL', key)}
end
-- Expired but not swept yet: refused all the same (the sweeper returns the units).
if now >= tonumber(rec.x) then return {0, 'hold_expired'} end
local q = tonumber(rec.q)
local used = tonumber(redis.call('HGET', P .. 'emails', email) or '0')
if used + q > tonumber(rec.lim) then return {0, 'limit_reached'} end
redis.call('HINCRBY', P .. 'emails', email, q)
-- ev=1: this hold has been in checkout once, so a charge may exist for it; from now on the
-- sweeper hands it to recovery instead of returning its units blindly.
redis.call('HSET', key, 'st', 'locked', 'ld', deadline, 'em', email, 'det', details, 'ev', 1)
redis.call('ZADD', P .. 'due', deadline, hid)
return {1, redis.call('HGETALL', key)}
