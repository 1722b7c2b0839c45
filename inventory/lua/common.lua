-- Shared helpers. scripts.py puts this header, and the helpers a script calls, in front of every
-- product script, so each script stays one
-- self-contained EVALSHA (Redis 6.2: no Functions, no cross-script calls).
--
-- Calling convention for every product script: KEYS[1] is the product's version key
-- (ld:{p<id>}:ver), ARGV[1] is the product's key prefix (ld:{p<id>}:). Every key a script touches
-- starts with that prefix, so all of them share the {p<id>} hash tag and sit in KEYS[1]'s cluster
-- slot; the scripts build the other key names from the prefix instead of listing them all.

local P = ARGV[1]

-- HGETALL as a Lua table; nil when the hash does not exist.
-- A hold made by hold.lua is one field, r: the fields it never changes, packed (joined by \30, in
-- the order below; inventory.stock.PACKED_HOLD_FIELDS is the same list). A hold's later steps
-- (lock, unlock, commit) write their fields beside it, and those win over the packed ones; the
-- fields not yet written read as a new hold's. One field instead of 18 took the hold script's
-- HSET from 3.1 to about 1 microsecond of Redis time, on every hold of a drop.
local function load_record(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local rec = {}
  for i = 1, #flat, 2 do rec[flat[i]] = flat[i + 1] end
  local packed = rec.r
  if packed then
    local names = {'b', 'sku', 'q', 'p', 'c', 'o', 'sh', 'ho', 'x', 'lim', 't'}
    local n = 0
    for part in string.gmatch(packed .. '\30', '([^\30]*)\30') do
      n = n + 1
      local name = names[n]
      if name and rec[name] == nil then rec[name] = part end
    end
    if rec.st == nil then rec.st = 'held' end
    if rec.att == nil then rec.att = '0' end
    if rec.ev == nil then rec.ev = '0' end
    if rec.em == nil then rec.em = '' end
    if rec.ld == nil then rec.ld = '0' end
    if rec.det == nil then rec.det = '' end
  end
  return rec
end

-- Back in stock (inventory.waitlist, docs/notify.md): units that came back to 'avail' go first to
-- the people waiting for that size, oldest entry first, one unit each, as ordinary holds that
-- expire at the offer's deadline. It runs inside the script that returned the units, so no buy
-- press can take them in between (Redis runs one script at a time). The hold script never calls
-- this: a waitlist costs the hot path nothing. ld:{p}:wl:<sku> (zset buyer -> joined ms) is the
-- line; ld:{p}:wlt:<sku> (hash buyer -> terms) what each entry's hold is made of; every entry
-- handled lands in ld:{p}:wlnew for the job that records and announces it.
local function waitlist_take(sku)
  local wl = P .. 'wl:' .. sku
  if redis.call('EXISTS', wl) == 0 then return 0 end
  local a = tonumber(redis.call('HGET', P .. 'avail', sku) or '0')
  local given, now = 0, nil
  while a > 0 do
    local first = redis.call('ZRANGE', wl, 0, 0)
    if #first == 0 then break end
    local buyer = first[1]
    local tk = P .. 'wlt:' .. sku
    local packed = redis.call('HGET', tk, buyer)
    redis.call('ZREM', wl, buyer)
    redis.call('HDEL', tk, buyer)
    if packed then
      -- entry id, hold id, price, currency, show, host, per-customer limit, offer ms, index ttl ms
      local f = {}
      for part in string.gmatch(packed .. '\30', '([^\30]*)\30') do f[#f + 1] = part end
      local bu = tonumber(redis.call('HGET', P .. 'buyers', buyer) or '0')
      if bu + 1 > tonumber(f[7]) then
        redis.call('RPUSH', P .. 'wlnew', 'skip:' .. f[1])  -- already at the limit: the next one
      else
        if not now then
          -- The script's own clock: release.lua and restock.lua are not handed one. Allowed since
          -- Redis 5 (scripts replicate their effects, not their source).
          local t = redis.call('TIME')
          now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local hid, exp = f[2], now + tonumber(f[8])
        redis.call('HINCRBY', P .. 'avail', sku, -1)
        redis.call('HINCRBY', P .. 'buyers', buyer, 1)
        redis.call('HSET', P .. 'hold:' .. hid,
          'b', buyer, 'sku', sku, 'q', 1, 'p', f[3], 'c', f[4], 'o', '', 'sh', f[5], 'ho', f[6],
          'x', exp, 'st', 'held', 'lim', f[7], 'att', 0, 'ev', 0, 'em', '', 'ld', 0, 'det', '', 't', now,
          'wl', f[1])
        redis.call('ZADD', P .. 'due', exp, hid)
        local bk = P .. 'b:' .. buyer  -- the buyer's record (hold.lua): this hold in their index
        redis.call('HSET', bk, 'h:' .. hid, '1')
        redis.call('PEXPIRE', bk, f[9])
        redis.call('RPUSH', P .. 'wlnew', 'offer:' .. f[1] .. ':' .. hid .. ':' .. exp)
        a = a - 1
        given = given + 1
      end
    end
  end
  return given
end

-- The single place where a held or locked hold gives its units back to stock. The caller has
-- already decided it may (buyer cancel, expiry sweep, abandoned checkout); the record is deleted
-- in the same call, so a second caller finds nothing and the units come back exactly once.
local function give_back(hid, rec)
  local q = tonumber(rec.q)
  redis.call('HINCRBY', P .. 'avail', rec.sku, q)
  redis.call('HINCRBY', P .. 'buyers', rec.b, -q)
  if rec.o ~= nil and rec.o ~= '' then redis.call('HINCRBY', P .. 'offer_used', rec.o, -q) end
  if rec.em ~= nil and rec.em ~= '' then redis.call('HINCRBY', P .. 'emails', rec.em, -q) end
  redis.call('DEL', P .. 'hold:' .. hid)
  redis.call('ZREM', P .. 'due', hid)
  waitlist_take(rec.sku)
  return q
end

-- The buyers hash (buyer -> units held and bought) as a hash table from its first write. Redis
-- keeps a small hash as one ziplist (6.2: up to 512 fields; 7: a listpack, up to 128) and finds a
-- field by reading every one before it: a drop's first 512 buyers each paid three full scans of
-- it in the hold script (HGET, then HINCRBY's read and write), 37,000 of a hold's 225,000
-- redis-server instructions on average over a 2,000-hold burst (callgrind, docs/hold-script.md).
-- A value longer than hash-max-ziplist-value (64 bytes) makes Redis convert the hash for good.
-- Field '~' is no buyer id (they are issued by web.auth); nothing lists this hash.
local function buyers_as_table()
  redis.call('HSET', P .. 'buyers', '~',
    'keeps this hash a hash table: a ziplist is scanned field by field (docs/hold-script.md)')
end

-- Stock changed: the live hub polls this counter (about 5 Hz) instead of reading every SKU.
local function bump()
  return redis.call('INCR', KEYS[1])
end
