-- Put SKUs on sale. A SKU already loaded is left alone, so loading twice never doubles stock
-- (raising stock is restock; rebuilding after a Redis loss is reconcile).
-- ARGV: prefix, sku1, units1, sku2, units2, ...   Returns the number of SKUs newly loaded.
local n = 0
for i = 2, #ARGV, 2 do
  local sku, units = ARGV[i], ARGV[i + 1]
  if redis.call('HSETNX', P .. 'loaded', sku, units) == 1 then
    redis.call('HSET', P .. 'avail', sku, units)
    redis.call('HSETNX', P .. 'sold', sku, 0)
    n = n + 1
  end
end
if n > 0 then
  buyers_as_table()
  bump()
end
return n
