"""The Lua that Redis runs for the shared limits: every atomic step is one script.

Read-modify-write from Python would race between processes; a script runs alone on the
server. Times come from the server's own ``TIME`` (milliseconds), so processes whose
clocks disagree still agree on leases, pauses and quota windows, and scripts return
*durations*, never instants.

Keys of one tenant (one hash tag, so a Redis Cluster keeps them on one node)::

    {ns}:held     hash   holder -> slots that holder has in flight
    {ns}:leases   zset   holder -> when its lease ends (ms); a dead holder's slots are freed
                         by the next script that sees the lease ended
    {ns}:waiting  zset   holder -> until when it counts as waiting for a slot (fairness)
    {ns}:state    hash   tenant (the recorded tenant_concurrency), limit (adaptive, float)
                         with cut_to, cut_at (ms) and hold (ms), paused_until (ms),
                         quota_left, quota_reset_at (ms)
    {ns}:seq      hash   holder -> the sequence number of its latest call

**State, not deltas.** Every call states how many slots its holder has in flight now, with
a sequence number that grows by one per call; the script *sets* the holder's count to it
(an acquire then adds what it grants). A call that was lost (Redis went away, restarted
empty, or answered too late and we gave up on it) costs nothing: the next call states the
count again. A call run late, after a newer one (a stalled Redis working through what
queued up), carries an older sequence number and changes nothing. Increments instead of
counts once kept 9-14 of 40 slots that no process held, for the rest of a batch.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ACQUIRE", "KEY_NAMES", "OPEN", "RELEASE", "STALE"]

KEY_NAMES: Final = ("held", "leases", "waiting", "state", "seq")
STALE: Final = -1  # the first value of an answer to a call older than one already applied

# Shared prologue: a stale call turned away, the server's time, dead leases swept, this
# holder's count stated, and functions for what the scripts report back.
# ARGV[1] holder, ARGV[2] sequence number, ARGV[3] slots it holds now, ARGV[4] lease ms,
# ARGV[5] its tenant_concurrency (recorded when the namespace has none: after a restart).
_PROLOGUE: Final = """
local held_key, leases_key, waiting_key, state_key, seq_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local holder = ARGV[1]
local seq = tonumber(ARGV[2])
if seq <= tonumber(redis.call('HGET', seq_key, holder) or '-1') then
  return {-1}
end
local holding = tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', leases_key, '-inf', now)
for _, h in ipairs(dead) do
  redis.call('HDEL', held_key, h)
  redis.call('HDEL', seq_key, h)
  redis.call('ZREM', leases_key, h)
end
redis.call('HSET', seq_key, holder, seq)
redis.call('HSET', held_key, holder, holding)
redis.call('ZADD', leases_key, now + lease_ms, holder)
local tenant = tonumber(redis.call('HGET', state_key, 'tenant') or '0')
if tenant < 1 then
  tenant = tonumber(ARGV[5])
  redis.call('HSET', state_key, 'tenant', tenant)
end
local keep = math.max(lease_ms * 10, 3600000)
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, keep) end
redis.call('ZREMRANGEBYSCORE', waiting_key, '-inf', now)

-- cap: slots allowed now; used: taken by all; mine: ours; share: our fair part of cap,
-- among the holders that hold slots or wait for one (each counted once: a holder that
-- holds some and waits for more is one process, not two); waiting: others waiting
local function tally()
  local limit = tonumber(redis.call('HGET', state_key, 'limit') or tostring(tenant))
  local cap = math.max(1, math.floor(math.min(limit, tenant)))
  local used, mine, sharers = 0, 0, 1
  local counted = {}
  local flat = redis.call('HGETALL', held_key)
  for i = 1, #flat, 2 do
    local n = tonumber(flat[i + 1])
    used = used + n
    if flat[i] == holder then
      mine = n
    elseif n > 0 then
      counted[flat[i]] = true
      sharers = sharers + 1
    end
  end
  local waiting = 0
  for _, h in ipairs(redis.call('ZRANGE', waiting_key, 0, -1)) do
    if h ~= holder then
      waiting = waiting + 1
      if not counted[h] then sharers = sharers + 1 end
    end
  end
  local share = math.ceil(cap / sharers)
  return cap, used, mine, share, waiting, math.max(1, math.floor(cap / sharers))
end

-- ms the tenant stays paused (0: not paused), and whether the quota is being counted down
local function pause_and_quota()
  local paused = tonumber(redis.call('HGET', state_key, 'paused_until') or '0')
  local reset_at = tonumber(redis.call('HGET', state_key, 'quota_reset_at') or '0')
  local counting = 0
  if reset_at > now then
    if redis.call('HEXISTS', state_key, 'quota_left') == 1 then counting = 1 end
  elseif reset_at > 0 then
    redis.call('HDEL', state_key, 'quota_left', 'quota_reset_at')
  end
  return math.max(0, paused - now), counting, reset_at
end
"""

# Run once when a client starts, before any other call: records the namespace's
# tenant_concurrency, or says that another one is recorded. It also proves the server runs
# our scripts (EVALSHA allowed, TIME callable before a write) before a request depends on it.
# ARGV[1] its tenant_concurrency, ARGV[2] '1' to replace a different recorded one.
# -> {1 recorded now or already equal | 0 another is recorded | 2 replaced, the one found}
OPEN: Final = """
local state_key = KEYS[4]
local t = redis.call('TIME')
local found = tonumber(redis.call('HGET', state_key, 'tenant') or '0')
local mine = tonumber(ARGV[1])
local status = 1
if found > 0 and found ~= mine then
  if ARGV[2] ~= '1' then return {0, found} end
  status = 2
  -- A cut learned under the old cap means nothing under the new one.
  redis.call('HDEL', state_key, 'limit', 'cut_to', 'cut_at', 'hold')
end
redis.call('HSET', state_key, 'tenant', mine)
redis.call('PEXPIRE', state_key, 3600000)
return {status, found}
"""

# Both scripts report `keep`: how many slots this holder may keep and pass from one of its
# requests to the next without asking again (its fair share while others wait, else cap),
# `floor` (its fair share rounded down: the most it allows itself if Redis goes away, so
# that all of them together stay within the cap) and `used` after the call (the
# tenant-wide count, for the tenant's peak in ClientStats).
# -> {granted (0..want), wait_ms (-1: none known), keep, counting, floor, used}
# ARGV[6] how long a refused holder counts as waiting (ms), ARGV[7] slots wanted.
ACQUIRE: Final = (
    _PROLOGUE
    + """
local want = tonumber(ARGV[7])
local paused_ms, counting, reset_at = pause_and_quota()
local cap, used, mine, share, waiting, floor = tally()
if paused_ms > 0 then
  return {0, paused_ms, share, counting, floor, used}
end
local grant = math.max(0, math.min(want, cap - used))
if waiting > 0 then
  -- Others are queued: take no more than a fair share, so a process that started first
  -- cannot keep every slot while the rest poll.
  grant = math.max(0, math.min(grant, share - mine))
end
if counting == 1 then
  local left = tonumber(redis.call('HGET', state_key, 'quota_left'))
  if left <= 0 then
    return {0, reset_at - now, share, counting, floor, used}
  end
  grant = math.min(grant, left)
  redis.call('HINCRBY', state_key, 'quota_left', -grant)
end
if grant == 0 then
  redis.call('ZADD', waiting_key, now + tonumber(ARGV[6]), holder)
  return {0, -1, share, counting, floor, used}
end
redis.call('ZREM', waiting_key, holder)
redis.call('HINCRBY', held_key, holder, grant)
return {grant, 0, waiting > 0 and share or cap, counting, floor, used + grant}
"""
)

# -> {paused_ms, keep, counting, floor, used}
# ARGV[6] a too-many 429's count of this holder's other requests in flight (-1: none),
# ARGV[7] successes, ARGV[8] pause ms (0: none), ARGV[9] quota reading ('' none,
# 'plenty', or remaining), ARGV[10] reading's reset ms, ARGV[11] sends made on slots
# passed on inside the process (they count against the quota like any other),
# ARGV[12..14] _core.pacing's HOLD, MAX_HOLD and CLIMB_STEP in ms.
# The holder's count was stated by the prologue.
RELEASE: Final = (
    _PROLOGUE
    + """
-- The adaptive limit, by _core.pacing's rule for everyone: a too-many 429 says the tenant
-- took the requests in flight besides the refused one (this holder's others and every
-- other holder's); the limit holds there, then climbs by 1, 2, 4, ... slots each step
-- until it is back at the tenant's; a climb refused again doubles the hold.
local limit = tonumber(redis.call('HGET', state_key, 'limit') or tostring(tenant))
local cut_to = tonumber(redis.call('HGET', state_key, 'cut_to') or tostring(limit))
local cut_at = tonumber(redis.call('HGET', state_key, 'cut_at') or '0')
local hold = tonumber(redis.call('HGET', state_key, 'hold') or ARGV[12])
if tonumber(ARGV[7]) > 0 and limit < tenant then
  local steps = (now - cut_at - hold) / tonumber(ARGV[14])
  if steps > 0 then limit = math.min(tenant, cut_to + 2 ^ math.min(steps, 30) - 1) end
end
local others = tonumber(ARGV[6])
if others >= 0 then
  local _, used, mine = tally()
  local learned = math.max(1, others + used - mine)
  if learned < limit then
    if limit > cut_to then hold = math.min(2 * hold, tonumber(ARGV[13])) end
    limit, cut_to, cut_at = learned, learned, now
  end
end
if limit >= tenant then
  redis.call('HDEL', state_key, 'limit', 'cut_to', 'cut_at', 'hold')
else
  redis.call('HSET', state_key, 'limit', tostring(limit), 'cut_to', tostring(cut_to),
             'cut_at', cut_at, 'hold', hold)
end
local pause_ms = tonumber(ARGV[8])
if pause_ms > 0 then
  local until_ms = now + pause_ms
  local paused = tonumber(redis.call('HGET', state_key, 'paused_until') or '0')
  if until_ms > paused then
    redis.call('HSET', state_key, 'paused_until', until_ms)
  end
end
local sends = tonumber(ARGV[11])
if ARGV[9] == 'plenty' then
  redis.call('HDEL', state_key, 'quota_left', 'quota_reset_at')
elseif ARGV[9] ~= '' then
  -- Zuora's figure, less what the tenant still has in flight (not counted there yet).
  local used = 0
  for _, v in ipairs(redis.call('HVALS', held_key)) do used = used + tonumber(v) end
  redis.call('HSET', state_key, 'quota_left', tonumber(ARGV[9]) - used,
             'quota_reset_at', now + tonumber(ARGV[10]))
elseif sends > 0 and redis.call('HEXISTS', state_key, 'quota_left') == 1 then
  redis.call('HINCRBY', state_key, 'quota_left', -sends)
end
local paused_ms, counting = pause_and_quota()
local cap, used, _, share, waiting, floor = tally()
return {paused_ms, waiting > 0 and share or cap, counting, floor, used}
"""
)
