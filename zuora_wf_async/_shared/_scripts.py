"""The Lua scripts that Redis runs for the shared limits: every atomic step is one script.

Read-modify-write from Python would race between processes; a script runs alone on the
server. Times come from the server's own ``TIME`` (milliseconds), so processes whose
clocks disagree still agree on leases, pauses and quota windows, and scripts return
*durations*, never instants.

Keys of one tenant (one hash tag, so a Redis Cluster keeps them on one node)::

    {ns}:held     hash   holder -> slots that holder has in flight
    {ns}:leases   zset   holder -> when its lease ends (ms); a dead holder's slots are freed
                         by the next script that sees the lease ended
    {ns}:waiting  zset   holder -> until when it counts as waiting for a slot (fairness)
    {ns}:state    hash   limit (adaptive, float), gen (bumped by each cut and pause),
                         paused_until (ms), quota_left, quota_reset_at (ms)

A holder the store does not know (Redis restarted and lost everything, or its lease ended
while its process was stalled) re-asserts how many slots it holds: the count travels with
every call, so the limits rebuild from the processes themselves.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ACQUIRE", "RELEASE", "RENEW"]

# Shared prologue: the server's time, dead leases swept, this holder registered.
# ARGV[1] holder, ARGV[2] slots it holds now, ARGV[3] lease ms, ARGV[4] 1 to force the count.
_PROLOGUE: Final = """
local held_key, leases_key, waiting_key, state_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local holder = ARGV[1]
local holding = tonumber(ARGV[2])
local lease_ms = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', leases_key, '-inf', now)
for _, h in ipairs(dead) do
  redis.call('HDEL', held_key, h)
  redis.call('ZREM', leases_key, h)
end
local registered = false
if ARGV[4] == '1' or not redis.call('ZSCORE', leases_key, holder) then
  redis.call('HSET', held_key, holder, holding)
  registered = true
end
redis.call('ZADD', leases_key, now + lease_ms, holder)
local keep = math.max(lease_ms * 10, 3600000)
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, keep) end
local gen = tonumber(redis.call('HGET', state_key, 'gen') or '0')
"""

# -> {granted 0|1, wait_ms (-1: none known, poll), gen}
# ARGV[5] tenant concurrency, ARGV[6] how long a refused holder counts as waiting (ms).
ACQUIRE: Final = (
    _PROLOGUE
    + """
local tenant = tonumber(ARGV[5])
local paused = tonumber(redis.call('HGET', state_key, 'paused_until') or '0')
if paused > now then
  return {0, paused - now, gen}
end
local reset_at = tonumber(redis.call('HGET', state_key, 'quota_reset_at') or '0')
local left = nil
if reset_at > now then
  left = tonumber(redis.call('HGET', state_key, 'quota_left') or 'nil')
  if left ~= nil and left <= 0 then
    return {0, reset_at - now, gen}
  end
elseif reset_at > 0 then
  redis.call('HDEL', state_key, 'quota_left', 'quota_reset_at')
end
local limit = tonumber(redis.call('HGET', state_key, 'limit') or ARGV[5])
local cap = math.max(1, math.floor(math.min(limit, tenant)))
local used, active, mine = 0, 0, 0
local flat = redis.call('HGETALL', held_key)
for i = 1, #flat, 2 do
  local n = tonumber(flat[i + 1])
  used = used + n
  if n > 0 and flat[i] ~= holder then active = active + 1 end
  if flat[i] == holder then mine = n end
end
redis.call('ZREMRANGEBYSCORE', waiting_key, '-inf', now)
local others_waiting = redis.call('ZCARD', waiting_key)
if redis.call('ZSCORE', waiting_key, holder) then others_waiting = others_waiting - 1 end
local refuse = used >= cap
if not refuse and others_waiting > 0 then
  -- Others are queued: take no more than a fair share, so a process that started first
  -- cannot keep every slot while the rest poll.
  local share = math.ceil(cap / (active + others_waiting + 1))
  refuse = mine >= share
end
if refuse then
  redis.call('ZADD', waiting_key, now + tonumber(ARGV[6]), holder)
  return {0, -1, gen}
end
redis.call('ZREM', waiting_key, holder)
redis.call('HINCRBY', held_key, holder, 1)
if left ~= nil then
  redis.call('HINCRBY', state_key, 'quota_left', -1)
end
return {1, 0, gen}
"""
)

# -> {gen}
# ARGV[5] tenant concurrency, ARGV[6] gen the request was sent in, ARGV[7] outcome
# ('ok' success, 'cut' too many in flight, 'pause' window spent, '' anything else),
# ARGV[8] pause ms, ARGV[9] quota reading ('' none, 'plenty', or remaining), ARGV[10] reset ms.
# ARGV[2] is the count *after* this release; a known holder just decrements.
RELEASE: Final = (
    _PROLOGUE
    + """
if not registered then
  local n = tonumber(redis.call('HGET', held_key, holder) or '0')
  if n > 0 then redis.call('HINCRBY', held_key, holder, -1) end
end
local tenant = tonumber(ARGV[5])
local outcome = ARGV[7]
if outcome == 'ok' then
  local limit = tonumber(redis.call('HGET', state_key, 'limit') or 'nil')
  if limit ~= nil then
    limit = limit + 1 / limit
    if limit >= tenant then
      redis.call('HDEL', state_key, 'limit')
    else
      redis.call('HSET', state_key, 'limit', tostring(limit))
    end
  end
elseif outcome == 'cut' and tonumber(ARGV[6]) == gen then
  local limit = tonumber(redis.call('HGET', state_key, 'limit') or ARGV[5])
  redis.call('HSET', state_key, 'limit', tostring(math.max(1, math.min(limit, tenant) * 0.5)))
  gen = redis.call('HINCRBY', state_key, 'gen', 1)
elseif outcome == 'pause' then
  local until_ms = now + tonumber(ARGV[8])
  local paused = tonumber(redis.call('HGET', state_key, 'paused_until') or '0')
  if until_ms > paused then
    redis.call('HSET', state_key, 'paused_until', until_ms)
    gen = redis.call('HINCRBY', state_key, 'gen', 1)
  end
end
if ARGV[9] == 'plenty' then
  redis.call('HDEL', state_key, 'quota_left', 'quota_reset_at')
elseif ARGV[9] ~= '' then
  -- Zuora's figure, less what the tenant still has in flight (not counted there yet).
  local used = 0
  for _, v in ipairs(redis.call('HVALS', held_key)) do used = used + tonumber(v) end
  redis.call('HSET', state_key, 'quota_left', tonumber(ARGV[9]) - used,
             'quota_reset_at', now + tonumber(ARGV[10]))
end
return {gen}
"""
)

# Keep the lease alive while requests are in flight. -> {gen}
RENEW: Final = _PROLOGUE + "\nreturn {gen}\n"
