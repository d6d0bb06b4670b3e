-- Rate limit decisions for one request against one or more limits, atomically: either every
-- limit admits the request and each records it, or none records anything.
--
-- KEYS[i]   the i-th limit's key
-- ARGV[1]   "consume" or "peek" (peek writes nothing)
-- ARGV[2]   the time in microseconds since the Unix epoch, or "" for the server's TIME;
--           only tests pass a time, to control the clock
-- ARGV[3]   a unique suffix for sliding-log members, which are "<ms>:<suffix>"
-- then per limit i, from ARGV[1 + 3 * i]:
--           algorithm ("sliding_log" or "gcra"), window in ms, max requests
--
-- Returns { now in microseconds, then per limit: allowed (1 or 0), remaining,
--           reset_after in ms, retry_after in ms }.
--
-- The sliding log keeps the seed's data shape: a sorted set, score = time in ms,
-- member "<ms>:<unique>", expiring (PEXPIRE) one window after its newest entry. Only admitted
-- requests are added, so it never holds more than max entries.
-- GCRA keeps one number, the theoretical arrival time (TAT) in microseconds; gcra.hpp gives
-- the definition, which the C++ side implements too and the tests hold the two to.
--
-- Written as flat loops over plain locals rather than tables of closures: the script runs on
-- every request, and each table or closure it allocates costs server time.

local function ceil_div(a, b)
  local q = math.floor(a / b)
  if q * b < a then
    q = q + 1
  end
  return q
end

local consume = ARGV[1] == 'consume'
local now_us
if ARGV[2] == '' then
  local time = redis.call('TIME')
  now_us = time[1] * 1000000 + time[2]
else
  now_us = tonumber(ARGV[2])
end
local now_ms = math.floor(now_us / 1000)

-- ---- 1. inspect every limit, writing nothing that changes a decision --------------------
-- seen[i]: the sliding log's count of entries in the window, or GCRA's debt (TAT - now);
-- oldest[i]: the sliding log's oldest score in the window (false when empty).

local seen, oldest = {}, {}
local all_allowed = true
for i = 1, #KEYS do
  local key, algorithm = KEYS[i], ARGV[1 + 3 * i]
  local window, max = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
  local allowed
  if algorithm == 'sliding_log' then
    -- Entries scored above now - window are in the window.
    local start = now_ms - window
    local first, count
    if consume then
      -- Prune only when the oldest entry has left: the common case then costs one ZRANGE.
      first = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
      if first and first <= start then
        redis.call('ZREMRANGEBYSCORE', key, '-inf', start)
        first = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
      end
      count = first and redis.call('ZCARD', key) or 0
    else
      count = redis.call('ZCOUNT', key, '(' .. start, '+inf')
      first = count > 0 and tonumber(redis.call('ZRANGEBYSCORE', key, '(' .. start, '+inf',
                                                'WITHSCORES', 'LIMIT', 0, 1)[2])
    end
    seen[i], oldest[i] = count, first or false
    allowed = count < max
  elseif algorithm == 'gcra' then
    local tat = tonumber(redis.call('GET', key)) or now_us
    local debt = 0
    if tat > now_us then
      debt = tat - now_us
    end
    seen[i] = debt
    allowed = debt <= math.floor(window * 1000 / max) * (max - 1)
  else
    return redis.error_reply('ERR unknown rate limit algorithm ' .. tostring(algorithm))
  end
  all_allowed = all_allowed and allowed
end

-- ---- 2. record the request in every limit if all admit it, and report --------------------

local recording = consume and all_allowed
local reply = { now_us }
local n = 1

local function report(allowed, remaining, reset_after, retry_after)
  reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = allowed, remaining, reset_after,
                                                            retry_after
  n = n + 4
end

for i = 1, #KEYS do
  local key, algorithm = KEYS[i], ARGV[1 + 3 * i]
  local window, max = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
  if algorithm == 'sliding_log' then
    local count, first = seen[i], oldest[i]
    if recording then
      redis.call('ZADD', key, now_ms, now_ms .. ':' .. ARGV[3])
      redis.call('PEXPIRE', key, window)
      first = first or now_ms
    end
    if not first then
      report(1, max, 0, 0)
    elseif count < max then
      -- The oldest entry in the window leaves first: a slot frees then.
      local left = max - count
      if recording then
        left = left - 1
      end
      report(1, left, first + window - now_ms, 0)
    else
      -- A refused request waits until enough entries have left to bring the count below max.
      local freeing = first
      if count > max then
        freeing = tonumber(redis.call('ZRANGEBYSCORE', key, '(' .. (now_ms - window), '+inf',
                                      'WITHSCORES', 'LIMIT', count - max, 1)[2])
      end
      report(0, 0, first + window - now_ms, freeing + window - now_ms)
    end
  else
    local interval = math.floor(window * 1000 / max)
    local tolerance = interval * (max - 1)
    local debt = seen[i]
    if debt > tolerance then
      local wait = ceil_div(debt - tolerance, 1000)
      report(0, 0, wait, wait)
    else
      if recording then
        debt = debt + interval
        redis.call('SET', key, string.format('%d', now_us + debt), 'PX', ceil_div(debt, 1000))
      end
      -- Each interval of debt (a partial one included) holds one slot of the burst; the
      -- last slot frees when its part of the debt has drained.
      local used = ceil_div(debt, interval)
      local reset_after = 0
      if debt > 0 then
        reset_after = ceil_div(debt - (used - 1) * interval, 1000)
      end
      report(1, max - used, reset_after, 0)
    end
  end
end
return reply
