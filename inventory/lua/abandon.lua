-- Recovery found no order and no charge for a checkout that stalled past its lock deadline (or
-- for an expired hold that was once in checkout): unlock it, and return its units if it expired.
-- ARGV: prefix, hold_id, now_ms.  Returns {1, 'released'|'unlocked'} or {0, state}.
local hid, now = ARGV[2], tonumber(ARGV[3])
local key = P .. 'hold:' .. hid
local rec = load_record(key)
if not rec then return {0, 'gone'} end
if rec.st == 'sold' then return {0, 'sold'} end
if now >= tonumber(rec.x) then
  give_back(hid, rec)
  bump()
  return {1, 'released'}
end
if rec.st == 'locked' then
  if rec.em ~= '' then redis.call('HINCRBY', P .. 'emails', rec.em, -tonumber(rec.q)) end
  redis.call('HSET', key, 'st', 'held', 'em', '', 'det', '', 'ld', 0)
end
redis.call('ZADD', P .. 'due', rec.x, hid)
return {1, 'unlocked'}
