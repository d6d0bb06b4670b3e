-- Deletes a lease only if the caller still owns it: a lease that expired and was taken by
-- another process must not be released by its former owner.
--
-- KEYS[1]  the lease key
-- ARGV[1]  the owner's token
--
-- Returns 1 when released, 0 when the lease was gone or owned by someone else.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
