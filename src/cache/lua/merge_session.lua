-- Merges fields into a session stored as a JSON object, atomically and in one round trip.
--
-- The stored text is never decoded and encoded again: cjson would round large integers and
-- turn [] into {}. cjson only checks that the value is JSON (strict numbers); the object's
-- top-level members are then found by scanning the text, and every member the update does not
-- name is kept byte for byte, in its place. Named members are replaced where they stand, new
-- ones appended in the order given: what {...stored, ...updates} gives in the seed.
--
-- KEYS[1]  the session key
-- ARGV[1]  TTL in milliseconds; "0" keeps the key's current TTL
-- ARGV[2], ARGV[3], ARGV[4], then again per field: its name, the name as a JSON string, and
--          its new value as JSON
--
-- Returns 1 when merged, -1 when the key does not exist, -2 when it does not hold a JSON
-- object, -3 when it holds another type than a string. Nothing is written unless 1.
local current = redis.pcall('GET', KEYS[1])
if type(current) == 'table' and current.err then
  return -3
end
if not current then
  return -1
end

local lenient = cjson.decode_invalid_numbers()
cjson.decode_invalid_numbers(false)
local valid, decoded = pcall(cjson.decode, current)
cjson.decode_invalid_numbers(lenient)
local open = string.find(current, '[^ \t\r\n]')
if not valid or type(decoded) ~= 'table' or string.byte(current, open) ~= 123 then
  return -2
end

local function skip_space(at)
  return string.find(current, '[^ \t\r\n]', at)
end

-- Just past the string literal whose opening quote is at `at`.
local function string_end(at)
  local next = at + 1
  while true do
    local hit = string.find(current, '["\\]', next)
    if string.byte(current, hit) == 34 then
      return hit + 1
    end
    next = hit + 2
  end
end

-- Just past the JSON value that starts at `at` (the text is valid JSON).
local function value_end(at)
  local first = string.byte(current, at)
  if first == 34 then
    return string_end(at)
  end
  if first ~= 123 and first ~= 91 then
    return string.find(current, '[ \t\r\n,}%]]', at)
  end
  local depth = 0
  local next = at
  while true do
    local hit = string.find(current, '[%[%]{}"]', next)
    local byte = string.byte(current, hit)
    if byte == 34 then
      next = string_end(hit)
    else
      depth = depth + ((byte == 123 or byte == 91) and 1 or -1)
      next = hit + 1
      if depth == 0 then
        return next
      end
    end
  end
end

local updates = {}
for i = 2, #ARGV, 3 do
  updates[ARGV[i]] = i
end
local placed = {}
local members = {}
local at = skip_space(open + 1)
if string.byte(current, at) ~= 125 then
  while true do
    local name_end = string_end(at)
    local literal = string.sub(current, at, name_end - 1)
    local name = string.find(literal, '\\', 1, true) and cjson.decode(literal)
      or string.sub(literal, 2, -2)
    local value_at = skip_space(skip_space(name_end) + 1)
    local after = value_end(value_at)
    local update = updates[name]
    if update then
      members[#members + 1] = ARGV[update + 1] .. ':' .. ARGV[update + 2]
      placed[name] = true
    else
      members[#members + 1] = string.sub(current, at, after - 1)
    end
    local separator = skip_space(after)
    if string.byte(current, separator) == 125 then
      break
    end
    at = skip_space(separator + 1)
  end
end
for i = 2, #ARGV, 3 do
  if not placed[ARGV[i]] then
    members[#members + 1] = ARGV[i + 1] .. ':' .. ARGV[i + 2]
  end
end

local merged = '{' .. table.concat(members, ',') .. '}'
if ARGV[1] == '0' then
  redis.call('SET', KEYS[1], merged, 'KEEPTTL')
else
  redis.call('SET', KEYS[1], merged, 'PX', ARGV[1])
end
return 1
