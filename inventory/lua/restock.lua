-- Set a SKU's units loaded (the SQL Variant.stock, an absolute number, so a retried or
-- reordered call cannot add twice). Raising it adds the difference to available; lowering it
-- removes at most what is available (held and sold units are not taken back).
-- ARGV: prefix, sku, loaded_total.  Returns {loaded, available}.
local sku, total = ARGV[2], tonumber(ARGV[3])
local old = redis.call('HGET', P .. 'loaded', sku)
if not old then
  redis.call('HSET', P .. 'loaded', sku, total)
  redis.call('HSET', P .. 'avail', sku, total)
  redis.call('HSETNX', P .. 'sold', sku, 0)
  bump()
  return {total, total}
end
local delta = total - tonumber(old)
local a = tonumber(redis.call('HGET', P .. 'avail', sku) or '0')
if delta < 0 and -delta > a then delta = -a end
if delta ~= 0 then
  redis.call('HINCRBY', P .. 'loaded', sku, delta)
  redis.call('HINCRBY', P .. 'avail', sku, delta)
  if delta > 0 then waitlist_take(sku) end  -- the waiting line first (common.lua)
  bump()
end
return {tonumber(old) + delta, tonumber(redis.call('HGET', P .. 'avail', sku))}
