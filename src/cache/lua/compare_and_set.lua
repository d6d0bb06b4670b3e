-- Replaces a string value only if it is still the one the caller read: an optimistic,
-- atomic read-modify-write without WATCH (which would need a connection of its own) and
-- without decoding JSON in Lua (cjson rounds large numbers and turns [] into {}).
--
-- KEYS[1]  the key
-- ARGV[1]  SHA1 (hex) of the value the caller read
-- ARGV[2]  the new value
-- ARGV[3]  TTL in milliseconds; "0" keeps the key's current TTL
--
-- Returns 1 when written, 0 when the value changed meanwhile (read again and retry),
-- -1 when the key no longer exists.
local current = redis.call('GET', KEYS[1])
if not current then
  return -1
end
if redis.sha1hex(current) ~= ARGV[1] then
  return 0
end
if ARGV[3] == '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
