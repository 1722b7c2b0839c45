-- The buyer cancels a hold. Only its owner may; a hold in checkout (locked) or sold stays.
-- ARGV: prefix, hold_id, buyer.  Returns {1, sku, units available now} or {0, code}.
local hid, buyer = ARGV[2], ARGV[3]
local rec = load_record(P .. 'hold:' .. hid)
if not rec or rec.b ~= buyer or rec.st == 'sold' then return {0, 'not_found'} end
if rec.st == 'locked' then return {0, 'hold_locked'} end
give_back(hid, rec)
bump()
return {1, rec.sku, redis.call('HGET', P .. 'avail', rec.sku)}
