-- The test payment provider's charge, idempotent on its key: the first call decides the outcome
-- and stores it; every later call with the same key gets that same charge back.
-- KEYS[1]: ld:{charges}:c:<idempotency key>, KEYS[2]: ld:{charges}:ids (charge id -> key)
-- ARGV: charge_id, status, amount_cents, currency, last4, decline_code, created_ms, ttl_ms, brand
-- Returns the stored charge as a flat HGETALL list, and 1 when this call created it.
if redis.call('EXISTS', KEYS[1]) == 1 then return {redis.call('HGETALL', KEYS[1]), 0} end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'status', ARGV[2], 'amount_cents', ARGV[3],
  'currency', ARGV[4], 'last4', ARGV[5], 'decline_code', ARGV[6], 'created_at', ARGV[7], 'brand', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('HSET', KEYS[2], ARGV[1], KEYS[1])
return {redis.call('HGETALL', KEYS[1]), 1}
