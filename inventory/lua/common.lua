-- Shared helpers. scripts.py prepends this file to every script, so each script stays one
-- self-contained EVALSHA (Redis 6.2: no Functions, no cross-script calls).
--
-- Calling convention for every product script: KEYS[1] is the product's version key
-- (ld:{p<id>}:ver), ARGV[1] is the product's key prefix (ld:{p<id>}:). Every key a script touches
-- starts with that prefix, so all of them share the {p<id>} hash tag and sit in KEYS[1]'s cluster
-- slot; the scripts build the other key names from the prefix instead of listing them all.

local P = ARGV[1]

-- HGETALL as a Lua table; nil when the hash does not exist.
local function load_record(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local rec = {}
  for i = 1, #flat, 2 do rec[flat[i]] = flat[i + 1] end
  return rec
end

-- The single place where a held or locked hold gives its units back to stock. The caller has
-- already decided it may (buyer cancel, expiry sweep, abandoned checkout); the record is deleted
-- in the same call, so a second caller finds nothing and the units come back exactly once.
local function give_back(hid, rec)
  local q = tonumber(rec.q)
  redis.call('HINCRBY', P .. 'avail', rec.sku, q)
  redis.call('HINCRBY', P .. 'held', rec.sku, -q)
  redis.call('HINCRBY', P .. 'buyers', rec.b, -q)
  if rec.o ~= nil and rec.o ~= '' then redis.call('HINCRBY', P .. 'offer_used', rec.o, -q) end
  if rec.em ~= nil and rec.em ~= '' then redis.call('HINCRBY', P .. 'emails', rec.em, -q) end
  redis.call('DEL', P .. 'hold:' .. hid)
  redis.call('ZREM', P .. 'due', hid)
  return q
end

-- Stock changed: the live hub polls this counter (about 5 Hz) instead of reading every SKU.
local function bump()
  return redis.call('INCR', KEYS[1])
end
