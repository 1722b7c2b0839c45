-- Rebuild a product's counters from SQL plus the holds Redis still has.
--   available = loaded - sold_in_sql - units of holds Redis has that SQL does not count
-- SQL was read before this call. An order written after that read is not in sold_in_sql, but its
-- hold is still here (held, locked or a recent sold record), so it is counted once, as a hold.
-- An order that is in the read (its hold id is in the recent-orders list) is counted by SQL only;
-- a hold still locked for it is marked sold here, so its late commit is a no-op, and a missing
-- record is recreated as sold, so a late commit cannot take its units a second time.
-- Redis that came back behind (an older AOF, a stale replica) may hold units SQL has since sold:
-- then the holds exceed what SQL leaves (loaded - sold). Those holds reserve units that do not
-- exist; they are dropped, newest first, unlocked ones only (a locked hold is mid-payment: SQL's
-- guard refuses its order and checkout forfeits it). Kept, their units would come back to stock
-- when they expired, and the page would offer a unit that is not there.
-- The fence: the caller set <prefix>recon = token before reading SQL. If Redis lost it (emptied in
-- between) or another reconcile replaced it, this answers 'fenced' and the caller starts again.
-- ARGV: prefix, token, now_ms, retention_ms,
--       n, (sku, loaded, sold_in_sql) * n,
--       m, (hold_id, sku, qty, buyer, email, offer_id) * m    recent paid orders
--       k, (buyer, units) * k,  k, (email, units) * k,  k, (offer_id, units) * k   from SQL
--       r, marker * r                                          restocks SQL counts (unsell.lua)
-- Returns {1, version} or {0, 'fenced'}.
local token, now, keep = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('GET', P .. 'recon') ~= token then return {0, 'fenced'} end
redis.call('DEL', P .. 'recon')

local i = 5
local function add(t, k, v) t[k] = (t[k] or 0) + v end
local loaded, sold = {}, {}
local skus = {}
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  skus[#skus + 1] = ARGV[i]
  loaded[ARGV[i]] = tonumber(ARGV[i + 1]); sold[ARGV[i]] = tonumber(ARGV[i + 2]); i = i + 3
end
local orders = {}
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  orders[ARGV[i]] = {sku = ARGV[i + 1], q = ARGV[i + 2], b = ARGV[i + 3], em = ARGV[i + 4], o = ARGV[i + 5]}
  i = i + 6
end
local maps = {}
for m = 1, 3 do
  local t = {}
  n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do add(t, ARGV[i], tonumber(ARGV[i + 1])); i = i + 2 end
  maps[m] = t
end
local buyers, emails, offers = maps[1], maps[2], maps[3]
-- Restocks (refund:<order>:<n>) SQL's read already counts: a late unsell of one is a no-op.
n = tonumber(ARGV[i] or '0'); i = i + 1
for _ = 1, n do redis.call('HSET', P .. 'unsold', ARGV[i], 1); i = i + 1 end

local held, pending = {}, {}
local unlocked = {}  -- sku -> {{hid, t, q, b, o}} of 'held' (not locked) holds, for dropping phantoms
redis.call('ZREMRANGEBYSCORE', P .. 'sold_recent', '-inf', now - keep)
local function visit(hid)
  local key = P .. 'hold:' .. hid
  local rec = load_record(key)
  if not rec then
    redis.call('ZREM', P .. 'due', hid)
    redis.call('ZREM', P .. 'sold_recent', hid)
    return
  end
  local o = orders[hid]
  if o then
    o.seen = true
    if rec.st ~= 'sold' then
      redis.call('HSET', key, 'st', 'sold', 'em', o.em, 'det', '')
      redis.call('ZREM', P .. 'due', hid)
      redis.call('ZADD', P .. 'sold_recent', now, hid)
      redis.call('PEXPIRE', key, keep)
    end
    return
  end
  local q = tonumber(rec.q)
  if rec.st == 'sold' then
    add(pending, rec.sku, q)
    if rec.em ~= '' then add(emails, rec.em, q) end
  else
    add(held, rec.sku, q)
    if rec.st == 'locked' and rec.em ~= '' then add(emails, rec.em, q) end
    if rec.st == 'held' then
      unlocked[rec.sku] = unlocked[rec.sku] or {}
      table.insert(unlocked[rec.sku], {hid = hid, t = tonumber(rec.t or rec.x or 0), q = q, b = rec.b, o = rec.o})
    end
  end
  add(buyers, rec.b, q)
  if rec.o ~= nil and rec.o ~= '' then add(offers, rec.o, q) end
end
for _, hid in ipairs(redis.call('ZRANGE', P .. 'due', 0, -1)) do visit(hid) end
for _, hid in ipairs(redis.call('ZRANGE', P .. 'sold_recent', 0, -1)) do
  if not (orders[hid] and orders[hid].seen) then visit(hid) end
end
for hid, o in pairs(orders) do
  if not o.seen then
    local key = P .. 'hold:' .. hid
    redis.call('HSET', key, 'b', o.b, 'sku', o.sku, 'q', o.q, 'o', o.o, 'em', o.em, 'st', 'sold',
      'x', now, 't', now, 'det', '')
    redis.call('PEXPIRE', key, keep)
    redis.call('ZADD', P .. 'sold_recent', now, hid)
  end
end

for _, sku in ipairs(skus) do
  local excess = (held[sku] or 0) + (pending[sku] or 0) - (loaded[sku] - sold[sku])
  local list = unlocked[sku]
  if excess > 0 and list then
    table.sort(list, function(x, y) return x.t > y.t end)  -- newest first
    for _, h in ipairs(list) do
      if excess <= 0 then break end
      redis.call('DEL', P .. 'hold:' .. h.hid)
      redis.call('ZREM', P .. 'due', h.hid)
      add(held, sku, -h.q)
      add(buyers, h.b, -h.q)
      if h.o ~= nil and h.o ~= '' then add(offers, h.o, -h.q) end
      excess = excess - h.q
    end
  end
end

-- Offer caps (c:<offer> in offer_used) are the host's, not counts: kept across the rebuild.
local caps = {}
local ou_flat = redis.call('HGETALL', P .. 'offer_used')
for j = 1, #ou_flat, 2 do
  if string.sub(ou_flat[j], 1, 2) == 'c:' then caps[#caps + 1] = ou_flat[j]; caps[#caps + 1] = ou_flat[j + 1] end
end
-- 'held' is no longer kept (loaded - avail - sold); deleted here in case an older version left one.
for _, name in ipairs({'avail', 'held', 'sold', 'loaded', 'buyers', 'emails', 'offer_used'}) do
  redis.call('DEL', P .. name)
end
for _, sku in ipairs(skus) do
  local h, p = held[sku] or 0, pending[sku] or 0
  local a = loaded[sku] - sold[sku] - h - p
  -- Never above what exists; below zero only if SQL already holds more than was loaded.
  if a < 0 then a = 0 end
  redis.call('HSET', P .. 'loaded', sku, loaded[sku])
  redis.call('HSET', P .. 'avail', sku, a)
  redis.call('HSET', P .. 'sold', sku, sold[sku] + p)
end
buyers_as_table()
for k, v in pairs(buyers) do if v ~= 0 then redis.call('HSET', P .. 'buyers', k, v) end end
for k, v in pairs(emails) do if v ~= 0 then redis.call('HSET', P .. 'emails', k, v) end end
for k, v in pairs(offers) do if v ~= 0 then redis.call('HSET', P .. 'offer_used', k, v) end end
if #caps > 0 then redis.call('HSET', P .. 'offer_used', unpack(caps)) end
return {1, bump()}
