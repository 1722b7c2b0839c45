-- A refund with restock: units of a paid order go back on sale (sold -> available), once per
-- refund. SQL moved variants.sold down first (in the refund's transaction); this follows it.
-- The marker (refund:<order id>:<n>) makes a retry a no-op, and reconcile sets the markers of the
-- restocks its SQL read already counts, so a reconcile that saw the refund is never added to.
-- The reconcile fence is dropped, so a reconcile that read SQL before the refund starts again.
-- ARGV: prefix, marker, sku, qty, buyer, email, offer_id|''
-- Returns {1, 'restocked'|'not_loaded'} or {0, 'already'}.
local marker, sku, q = ARGV[2], ARGV[3], tonumber(ARGV[4])
local buyer, email, oid = ARGV[5], ARGV[6], ARGV[7]
if redis.call('HSETNX', P .. 'unsold', marker, 1) == 0 then return {0, 'already'} end
redis.call('DEL', P .. 'recon')
if redis.call('HEXISTS', P .. 'loaded', sku) == 0 then return {1, 'not_loaded'} end
local function down(name, field)
  local left = redis.call('HINCRBY', P .. name, field, -q)
  if left <= 0 then redis.call('HDEL', P .. name, field) end
end
redis.call('HINCRBY', P .. 'sold', sku, -q)
redis.call('HINCRBY', P .. 'avail', sku, q)
down('buyers', buyer)
if email ~= '' then down('emails', email) end
if oid ~= '' then down('offer_used', oid) end
waitlist_take(sku)  -- the waiting line first (common.lua)
bump()
return {1, 'restocked'}
