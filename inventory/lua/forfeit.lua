-- SQL's stock guard refused the order of this hold: every unit of the size was already sold in
-- SQL, so the unit this hold reserved never existed (Redis had come back behind: a lost second
-- of AOF, or a lagging replica promoted). Its units must not go back to 'avail'. They move to
-- 'sold' (where the units SQL sold and Redis forgot belong), so avail + held + sold = loaded
-- still holds; the caller reconciles the product from SQL right after, which sets every counter
-- exactly. The buyer's and email's units are freed: they did not get the item.
-- ARGV: prefix, hold_id.  Returns {1, units} or {0, 'gone'|'sold'}.
local hid = ARGV[2]
local key = P .. 'hold:' .. hid
local rec = load_record(key)
if not rec then return {0, 'gone'} end
if rec.st == 'sold' then return {0, 'sold'} end
local q = tonumber(rec.q)
redis.call('HINCRBY', P .. 'sold', rec.sku, q)
redis.call('HINCRBY', P .. 'buyers', rec.b, -q)
if rec.o ~= nil and rec.o ~= '' then redis.call('HINCRBY', P .. 'offer_used', rec.o, -q) end
if rec.em ~= nil and rec.em ~= '' then redis.call('HINCRBY', P .. 'emails', rec.em, -q) end
redis.call('DEL', key)
redis.call('ZREM', P .. 'due', hid)
bump()
return {1, q}
