-- One GCRA decision, the same as the inmem package's, in whole microseconds.
-- KEYS[1]: the key, holding its theoretical arrival time (TAT) if it has one.
-- ARGV: emission interval, burst window, cost, and now ("" for Redis TIME).
-- Returns {allowed (0 or 1), remaining, retry after, reset after}.
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local tat = tonumber(redis.call("GET", KEYS[1])) or now
if tat < now then
  tat = now
end
local new_tat = tat + cost * interval
local allow_at = new_tat - window

if now < allow_at then
  local remaining = math.floor(math.max(0, now - (tat - window)) / interval)
  return {0, remaining, allow_at - now, tat - now}
end

-- The key expires when its TAT passes: from then on it is as good as new.
redis.call("SET", KEYS[1], string.format("%.0f", new_tat), "PX", math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
