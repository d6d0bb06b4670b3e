-- Rate limit decisions for a batch of requests, each against one or more limits, taken in
-- order as if the requests had reached the server one by one at the same instant. Each request
-- is all-or-nothing: either every one of its limits admits it and each records it, or none
-- records anything. One call decides every request a client issued in one loop turn.
--
-- KEYS[k]   the k-th distinct limit key of the batch
-- ARGV[1]   the time in microseconds since the Unix epoch, or "" for the server's TIME;
--           only tests pass a time, to control the clock
-- ARGV[2]   a suffix unique to this call; request r's sliding-log members are
--           "<ms>:<suffix>.<r>"
-- then per request r, in order: "consume", "peek" (writes nothing) or "release", its number
--           of limits n, then n indexes into KEYS; a release is followed by one more argument,
--           the sliding-log member of the request it undoes
-- and last, per key k (the final 3 * #KEYS arguments): algorithm ("sliding_log" or "gcra"),
--           window in ms, max requests
--
-- Returns { now in microseconds, then per request either an error reply (one of its keys
--           holds the wrong type: the request is decided by nobody, the others go on) or,
--           per limit: allowed (1 or 0), remaining, reset_after in ms, retry_after in ms }.
--
-- A release undoes a request an earlier call admitted, then reports its limits as a peek
-- would: on a cluster, where a request's limits live in several slots, the limiter reserves in
-- each slot in turn and releases what it reserved when a later slot refuses. The sliding log
-- removes that request's member (ZREM; nothing if it has left the window or the set): exact.
-- GCRA takes one interval back from the debt, never below none: exact when the key held debt
-- before the request; otherwise requests after it are charged from its time, not theirs, so
-- up to the time between the two calls is given back too (docs/cluster.md).
--
-- The sliding log keeps the seed's data shape: a sorted set, score = time in ms,
-- member "<ms>:<unique>", expiring (PEXPIRE) one window after its newest entry. Only admitted
-- requests are added, so it never holds more than max entries.
-- GCRA keeps one number, the theoretical arrival time (TAT) in microseconds; gcra.hpp gives
-- the definition, which the C++ side implements too and the tests hold the two to.
--
-- Each key is read once per call and written once at the end (one ZADD of every admitted
-- member, one PEXPIRE; one SET of the last TAT; a release's ZREM aside): the requests in
-- between are decided on that state in plain Lua, so a hot key (the global limit) costs the
-- same for one request or a hundred. Flat loops over locals, no closures per request: the
-- script runs on every batch, and each table or closure it allocates costs server time.

local function ceil_div(a, b)
  local q = math.floor(a / b)
  if q * b < a then
    q = q + 1
  end
  return q
end

local now_us
if ARGV[1] == '' then
  local time = redis.call('TIME')
  now_us = time[1] * 1000000 + time[2]
else
  now_us = tonumber(ARGV[1])
end
local now_ms = math.floor(now_us / 1000)
local suffix = ARGV[2]

-- ---- the keys' limits ---------------------------------------------------------------------

local nkeys = #KEYS
local config_base = #ARGV - 3 * nkeys
local sliding, window, max, interval = {}, {}, {}, {}
for k = 1, nkeys do
  local at = config_base + 3 * (k - 1)
  local algorithm = ARGV[at + 1]
  window[k], max[k] = tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  if algorithm == 'sliding_log' then
    sliding[k] = true
  elseif algorithm == 'gcra' then
    sliding[k] = false
    interval[k] = math.floor(window[k] * 1000 / max[k])
  else
    return redis.error_reply('ERR unknown rate limit algorithm ' .. tostring(algorithm))
  end
end

-- ---- each key's state, read on first use --------------------------------------------------
-- state[k]: the sliding log's count of entries in the window, or GCRA's debt (TAT - now);
-- oldest[k]: the sliding log's oldest score in the window (false when empty);
-- failed[k]: the error reply of a key that holds the wrong type.

local state, oldest, failed = {}, {}, {}
local members, debt_written = {}, {}

local function load(k, consume)
  local key = KEYS[k]
  if sliding[k] then
    -- Entries scored above now - window are in the window.
    local start = now_ms - window[k]
    local first, count
    if consume then
      -- Prune only when the oldest entry has left: the common case then costs one ZRANGE.
      local head = redis.pcall('ZRANGE', key, 0, 0, 'WITHSCORES')
      if head.err then
        failed[k] = head
        return
      end
      first = tonumber(head[2])
      if first and first <= start then
        redis.call('ZREMRANGEBYSCORE', key, '-inf', start)
        first = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
      end
      count = first and redis.call('ZCARD', key) or 0
    else
      count = redis.pcall('ZCOUNT', key, '(' .. start, '+inf')
      if type(count) == 'table' then
        failed[k] = count
        return
      end
      first = count > 0 and tonumber(redis.call('ZRANGEBYSCORE', key, '(' .. start, '+inf',
                                                'WITHSCORES', 'LIMIT', 0, 1)[2])
    end
    state[k], oldest[k] = count, first or false
  else
    local value = redis.pcall('GET', key)
    if type(value) == 'table' then
      failed[k] = value
      return
    end
    local tat = tonumber(value) or now_us
    local debt = 0
    if tat > now_us then
      debt = tat - now_us
    end
    state[k] = debt
  end
end

-- ---- a release, applied to the state read ------------------------------------------------

local function release(k, member)
  if sliding[k] then
    local key = KEYS[k]
    local score = tonumber(redis.call('ZSCORE', key, member))
    if not score then
      return
    end
    redis.call('ZREM', key, member)
    local start = now_ms - window[k]
    if score > start then
      state[k] = state[k] - 1
      if score == oldest[k] then
        -- This call's own members are not stored yet: they are the newest.
        oldest[k] = tonumber(redis.call('ZRANGEBYSCORE', key, '(' .. start, '+inf', 'WITHSCORES',
                                        'LIMIT', 0, 1)[2]) or (members[k] and now_ms) or false
      end
    end
  else
    local debt = state[k] - interval[k]
    if debt < 0 then
      debt = 0
    end
    state[k] = debt
    debt_written[k] = true
  end
end

-- ---- the requests, in order ---------------------------------------------------------------

local reply = { now_us }
local n = 1
local i = 3
local r = 0
while i < config_base do
  r = r + 1
  local mode = ARGV[i]
  local consume = mode == 'consume'
  local first_arg = i + 2
  local last_arg = i + 1 + tonumber(ARGV[i + 1])
  i = last_arg + 1
  local released = false
  if mode == 'release' then
    released = ARGV[i]
    i = i + 1
  end

  -- 1. inspect every limit of the request, changing nothing
  local all_allowed, error_reply = true, nil
  for a = first_arg, last_arg do
    local k = tonumber(ARGV[a])
    if state[k] == nil and not failed[k] then
      load(k, consume)
    end
    if failed[k] then
      error_reply = failed[k]
    elseif sliding[k] then
      all_allowed = all_allowed and state[k] < max[k]
    else
      all_allowed = all_allowed and state[k] <= interval[k] * (max[k] - 1)
    end
  end

  if error_reply then
    n = n + 1
    reply[n] = error_reply
  else
    if released then
      for a = first_arg, last_arg do
        release(tonumber(ARGV[a]), released)
      end
    end
    -- 2. record the request in every limit if all admit it, and report
    local recording = consume and all_allowed
    for a = first_arg, last_arg do
      local k = tonumber(ARGV[a])
      if sliding[k] then
        local count, first, limit = state[k], oldest[k], max[k]
        if recording then
          local added = members[k]
          if not added then
            added = {}
            members[k] = added
          end
          added[#added + 1] = now_ms
          added[#added + 1] = now_ms .. ':' .. suffix .. '.' .. r
          state[k] = count + 1
          if not first then
            oldest[k] = now_ms
          end
          first = first or now_ms
        end
        if not first then
          reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = 1, limit, 0, 0
        elseif count < limit then
          -- The oldest entry in the window leaves first: a slot frees then.
          local left = limit - count
          if recording then
            left = left - 1
          end
          reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = 1, left,
                                                                    first + window[k] - now_ms, 0
        else
          -- A refused request waits until enough entries have left to bring the count below
          -- max. Beyond max (entries a seed service added) the stored set tells which: this
          -- call adds nothing to a set it finds at or above max.
          local freeing = first
          if count > limit then
            freeing = tonumber(redis.call('ZRANGEBYSCORE', KEYS[k], '(' .. (now_ms - window[k]),
                                          '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)[2])
          end
          reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = 0, 0,
                                                                    first + window[k] - now_ms,
                                                                    freeing + window[k] - now_ms
        end
      else
        local step, limit = interval[k], max[k]
        local tolerance = step * (limit - 1)
        local debt = state[k]
        if debt > tolerance then
          local wait = ceil_div(debt - tolerance, 1000)
          reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = 0, 0, wait, wait
        else
          if recording then
            debt = debt + step
            state[k] = debt
            debt_written[k] = true
          end
          -- Each interval of debt (a partial one included) holds one slot of the burst; the
          -- last slot frees when its part of the debt has drained.
          local used = ceil_div(debt, step)
          local reset_after = 0
          if debt > 0 then
            reset_after = ceil_div(debt - (used - 1) * step, 1000)
          end
          reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = 1, limit - used, reset_after, 0
        end
      end
      n = n + 4
    end
  end
end

-- ---- write each changed key once ----------------------------------------------------------

for k = 1, nkeys do
  local added = members[k]
  if added then
    redis.call('ZADD', KEYS[k], unpack(added))
    redis.call('PEXPIRE', KEYS[k], window[k])
  elseif debt_written[k] then
    local debt = state[k]
    if debt > 0 then
      redis.call('SET', KEYS[k], string.format('%d', now_us + debt), 'PX', ceil_div(debt, 1000))
    else
      redis.call('DEL', KEYS[k])  -- released to no debt: as if never limited
    end
  end
end
return reply
