-- A buyer joins the waiting line of a sold-out size (inventory.waitlist; the line is served by
-- waitlist_take in common.lua). One entry per buyer and size: a second join keeps the first place.
-- ARGV: prefix, sku, buyer, joined_ms, terms (entry id, hold id, price, currency, show, host,
--       per-customer limit, offer ms, index ttl ms; joined by \30)
-- Returns {1, 'joined'|'already', place (1-based)} or {0, 'unknown_sku'|'not_on_sale'|'in_stock'}.
local sku, buyer, joined, terms = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local a = redis.call('HGET', P .. 'avail', sku)
if not a then
  if redis.call('EXISTS', P .. 'loaded') == 0 then return {0, 'not_on_sale'} end
  return {0, 'unknown_sku'}
end
local wl = P .. 'wl:' .. sku
if redis.call('ZSCORE', wl, buyer) then
  return {1, 'already', redis.call('ZRANK', wl, buyer) + 1}
end
-- Units on sale now: buy them. (A unit that comes back later is taken by the line first.)
if tonumber(a) > 0 then return {0, 'in_stock'} end
redis.call('ZADD', wl, joined, buyer)
redis.call('HSET', P .. 'wlt:' .. sku, buyer, terms)
return {1, 'joined', redis.call('ZRANK', wl, buyer) + 1}
