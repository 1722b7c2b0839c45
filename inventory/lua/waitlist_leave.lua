-- A buyer leaves a size's waiting line (an offer already made is a hold: release it instead).
-- ARGV: prefix, sku, buyer.  Returns 1 when the buyer was in the line, else 0.
local sku, buyer = ARGV[2], ARGV[3]
redis.call('HDEL', P .. 'wlt:' .. sku, buyer)
return redis.call('ZREM', P .. 'wl:' .. sku, buyer)
