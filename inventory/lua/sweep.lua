-- Return the units of expired holds, at most `batch` holds per call so Redis stays responsive.
-- A hold that was ever in checkout (ev=1), or is locked past its lock deadline, may have a
-- charge behind it: it is not released here but handed to the caller's recovery, and its due
-- time moves on by lease_ms so a racing sweeper does not hand it out twice at once.
-- ARGV: prefix, now_ms, batch, lease_ms.  Returns {holds looked at, units returned, {recover ids}}.
local now, batch, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', now, 'LIMIT', 0, batch)
local units, recover = 0, {}
for _, hid in ipairs(ids) do
  local rec = load_record(P .. 'hold:' .. hid)
  if not rec or rec.st == 'sold' then
    redis.call('ZREM', P .. 'due', hid)
  elseif rec.st == 'held' and rec.ev ~= '1' then
    units = units + give_back(hid, rec)
  else
    redis.call('ZADD', P .. 'due', now + lease, hid)
    recover[#recover + 1] = hid
  end
end
if units > 0 then bump() end
return {#ids, units, recover}
