-- Payment declined: the hold goes back to 'held' with its original expiry, the email reservation
-- is dropped, and the attempt number moves on (the next charge uses a new idempotency key, so
-- the buyer can try another card before the hold expires).
-- ARGV: prefix, hold_id, attempt (the attempt that was declined).  Returns {1} or {0, state}.
local hid, att = ARGV[2], ARGV[3]
local key = P .. 'hold:' .. hid
local rec = load_record(key)
if not rec then return {0, 'gone'} end
if rec.st ~= 'locked' then return {0, rec.st} end
if rec.att ~= att then return {0, 'stale'} end
if rec.em ~= '' then redis.call('HINCRBY', P .. 'emails', rec.em, -tonumber(rec.q)) end
redis.call('HSET', key, 'st', 'held', 'em', '', 'det', '', 'ld', 0, 'att', tonumber(rec.att) + 1)
redis.call('ZADD', P .. 'due', rec.x, hid)
return {1}
