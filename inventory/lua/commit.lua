-- Checkout's last step, after the order is in SQL: the hold's units move from held to sold.
-- If the hold is gone (Redis lost it, or it was released after its checkout stalled), the order
-- is paid and written, so take the units from stock if they exist; if they do not, answer
-- 'oversold' and the caller refunds and voids the order. A sold record is kept for
-- retention_ms (and listed in 'sold_recent') so reconcile can tell it from SQL's count.
-- ARGV: prefix, hold_id, now_ms, retention_ms, sku, qty, buyer, email, offer_id|''
-- Returns {1, 'committed'|'already'|'taken'} or {0, 'oversold'}.
local hid, now, keep = ARGV[2], ARGV[3], ARGV[4]
local sku, q, buyer, email, oid = ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9]
local key = P .. 'hold:' .. hid
local rec = load_record(key)
if rec then
  if rec.st == 'sold' then return {1, 'already'} end
  redis.call('HINCRBY', P .. 'sold', rec.sku, tonumber(rec.q))
  if rec.em == '' then
    -- Unlocked by recovery in between: the email reservation was dropped, take it again.
    redis.call('HINCRBY', P .. 'emails', email, tonumber(rec.q))
  end
  redis.call('HSET', key, 'st', 'sold', 'em', email, 'det', '')
  redis.call('ZREM', P .. 'due', hid)
  redis.call('ZADD', P .. 'sold_recent', now, hid)
  redis.call('PEXPIRE', key, keep)
  return {1, 'committed'}
end
local loaded = redis.call('HEXISTS', P .. 'loaded', sku)
if loaded == 1 then
  local a = tonumber(redis.call('HGET', P .. 'avail', sku) or '0')
  if a < q then return {0, 'oversold'} end
  redis.call('HINCRBY', P .. 'avail', sku, -q)
end
-- Not loaded (Redis emptied, reconcile not done yet): the sold record below is what lets the
-- coming reconcile count these units even if its SQL read came before this order.
redis.call('HINCRBY', P .. 'sold', sku, q)
redis.call('HINCRBY', P .. 'buyers', buyer, q)
redis.call('HINCRBY', P .. 'emails', email, q)
if oid ~= '' then redis.call('HINCRBY', P .. 'offer_used', oid, q) end
redis.call('HSET', key, 'b', buyer, 'sku', sku, 'q', q, 'o', oid, 'em', email, 'st', 'sold',
  'x', now, 't', now, 'det', '')
redis.call('PEXPIRE', key, keep)
redis.call('ZADD', P .. 'sold_recent', now, hid)
if loaded == 1 then bump() end
return {1, 'taken'}
