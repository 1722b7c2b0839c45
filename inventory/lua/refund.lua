-- The test payment provider's refund, idempotent on the refund's own key: the first call refunds
-- (the amount, or all that is left; never more than was paid) and records it; later calls with
-- the same key answer the charge as it stands and refund nothing.
-- KEYS[1]: ld:{charges}:c:<charge key>, KEYS[2]: ld:{charges}:r:<refund key>,
-- KEYS[3]: ld:{charges}:rl:<charge id> (the charge's refunds, oldest first)
-- ARGV: amount_cents (-1: all that is left), refund_id, ttl_ms
-- Returns the charge as a flat HGETALL list, and the cents this call refunded.
if redis.call('EXISTS', KEYS[2]) == 1 then return {redis.call('HGETALL', KEYS[1]), 0} end
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'paid' then return {redis.call('HGETALL', KEYS[1]), 0} end
local total = tonumber(redis.call('HGET', KEYS[1], 'amount_cents'))
local done = tonumber(redis.call('HGET', KEYS[1], 'refunded_cents') or '0')
local a = tonumber(ARGV[1])
if a < 0 or a > total - done then a = total - done end
if a <= 0 then return {redis.call('HGETALL', KEYS[1]), 0} end
redis.call('HSET', KEYS[1], 'refunded_cents', done + a)
if done + a >= total then redis.call('HSET', KEYS[1], 'status', 'refunded') end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[2] .. ':' .. a)
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return {redis.call('HGETALL', KEYS[1]), a}
