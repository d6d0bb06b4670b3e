-- Rate limit decisions for one request against one or more limits, atomically: either every
-- limit admits the request and each records it, or none records anything.
--
-- KEYS[i]   the i-th limit's key
-- ARGV[1]   "consume" or "peek" (peek writes nothing)
-- ARGV[2]   the time in microseconds since the Unix epoch, or "" for the server's TIME;
--           only tests pass a time, to control the clock
-- ARGV[3]   a unique suffix for sliding-log members, which are "<ms>:<suffix>"
-- then per limit i, from ARGV[4 + 3 * (i - 1)]:
--           algorithm ("sliding_log" or "gcra"), window in ms, max requests
--
-- Returns { now in microseconds, then per limit: allowed (1 or 0), remaining,
--           reset_after in ms, retry_after in ms }.
--
-- The sliding log keeps the seed's data shape: a sorted set, score = time in ms,
-- member "<ms>:<unique>", expiring (PEXPIRE) one window after its newest entry. Only admitted
-- requests are added, so it never holds more than max entries.
-- GCRA keeps one number, the theoretical arrival time in microseconds (see gcra.hpp for the
-- definition, which the C++ side implements too).

local function ceil_div(a, b)
  local q = math.floor(a / b)
  if q * b < a then
    q = q + 1
  end
  return q
end

local function current_time_us()
  if ARGV[2] ~= '' then
    return tonumber(ARGV[2])
  end
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000000 + tonumber(time[2])
end

-- ---- sliding log (milliseconds) ------------------------------------------------------------

local sliding_log = {}

-- The entries with a score above `start` are in the window; `consume` prunes the others.
function sliding_log.inspect(key, window, max, now_us, consume)
  local now = math.floor(now_us / 1000)
  local start = now - window
  local count
  if consume then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', start)
    count = redis.call('ZCARD', key)
  else
    count = redis.call('ZCOUNT', key, '(' .. start, '+inf')
  end
  return { key = key, window = window, max = max, now = now, start = start, count = count,
           allowed = count < max }
end

-- The score of the n-th (from 0) entry in the window, oldest first.
local function nth_score(state, n)
  local entry = redis.call('ZRANGEBYSCORE', state.key, '(' .. state.start, '+inf',
                           'WITHSCORES', 'LIMIT', n, 1)
  return tonumber(entry[2])
end

function sliding_log.record(state, suffix)
  redis.call('ZADD', state.key, state.now, state.now .. ':' .. suffix)
  redis.call('PEXPIRE', state.key, state.window)
  state.count = state.count + 1
end

-- allowed, remaining, reset_after, retry_after. A slot frees when the oldest entry leaves the
-- window; a rejected request waits until enough entries leave to bring the count below max.
function sliding_log.outcome(state, recorded)
  if state.count == 0 then
    return { 1, state.max, 0, 0 }
  end
  local oldest = state.now
  if not (recorded and state.count == 1) then
    oldest = nth_score(state, 0)
  end
  local reset_after = oldest + state.window - state.now
  if state.allowed then
    return { 1, state.max - state.count, reset_after, 0 }
  end
  local freeing = oldest
  if state.count > state.max then
    freeing = nth_score(state, state.count - state.max)
  end
  return { 0, 0, reset_after, freeing + state.window - state.now }
end

-- ---- GCRA (microseconds) -------------------------------------------------------------------

local gcra = {}

function gcra.inspect(key, window, max, now, _)
  local interval = math.floor(window * 1000 / max)
  local tolerance = interval * (max - 1)
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then
    tat = now
  end
  local debt = tat - now
  return { key = key, max = max, interval = interval, tolerance = tolerance, tat = tat,
           debt = debt, allowed = debt <= tolerance }
end

function gcra.record(state, _)
  state.tat = state.tat + state.interval
  state.debt = state.debt + state.interval
  redis.call('SET', state.key, string.format('%d', state.tat), 'PX', ceil_div(state.debt, 1000))
end

function gcra.outcome(state, _)
  if not state.allowed then
    local retry_after = ceil_div(state.debt - state.tolerance, 1000)
    return { 0, 0, retry_after, retry_after }
  end
  local used = ceil_div(state.debt, state.interval)
  local reset_after = 0
  if state.debt > 0 then
    reset_after = ceil_div(state.debt - (used - 1) * state.interval, 1000)
  end
  return { 1, state.max - used, reset_after, 0 }
end

-- ---- the request ---------------------------------------------------------------------------

local algorithms = { sliding_log = sliding_log, gcra = gcra }
local consume = ARGV[1] == 'consume'
local suffix = ARGV[3]
local now = current_time_us()

local states = {}
local all_allowed = true
for i, key in ipairs(KEYS) do
  local base = 4 + 3 * (i - 1)
  local algorithm = algorithms[ARGV[base]]
  if not algorithm then
    return redis.error_reply('ERR unknown rate limit algorithm ' .. tostring(ARGV[base]))
  end
  local state = algorithm.inspect(key, tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), now,
                                  consume)
  state.algorithm = algorithm
  states[i] = state
  all_allowed = all_allowed and state.allowed
end

local recording = consume and all_allowed
local reply = { now }
for _, state in ipairs(states) do
  if recording then
    state.algorithm.record(state, suffix)
  end
  for _, value in ipairs(state.algorithm.outcome(state, recording)) do
    reply[#reply + 1] = value
  end
end
return reply
