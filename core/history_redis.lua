-- history_redis.lua - the Redis history's append, run atomically per event
-- (EVALSHA) by core/history_redis.c, which embeds this file at build time.
--
-- Epoch, dedupe, seq, the global log, the room streams with their trimming
-- bookkeeping, the membership sets, then PUBLISH. The eventId key is written
-- last, so a script that failed half-way is retried in full rather than
-- taken for a duplicate. docs/history.md has the key layout.
--
-- KEYS: 1 epoch, 2 epoch start, 3 seq, 4 eventId, 5 log, 6 member set,
--       7.. (room stream, room lost marker) per room.
-- ARGV: 1 epoch candidate, 2 ttl ms, 3 max per room, 4 transient "1"|"0",
--       5 member op ""|"add"|"remove", 6 member program, 7 occurred ms,
--       8 body (envelope without offset, "\n", payload), 9 bus channel.
-- Returns {1, epoch, offset} appended (offset "" when transient) or
-- {0, epoch, ""} duplicate.

local function fmt(n) return string.format('%d', n) end
local function idseq(id) return tonumber(string.match(id, '^(%d+)')) end
local function lastseq(key)
  local r = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if r[1] then return idseq(r[1][1]) end
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local snow = fmt(now)
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SET', KEYS[2], snow)
end
local epoch = redis.call('GET', KEYS[1])
if redis.call('EXISTS', KEYS[4]) == 1 then return {0, epoch, ''} end
local ttl = tonumber(ARGV[2])
local body = ARGV[8]
local function stamp(off)
  return '{"offset":"' .. off .. '",' .. string.sub(body, 2)
end
if ARGV[5] == 'add' then redis.call('SADD', KEYS[6], ARGV[6])
elseif ARGV[5] == 'remove' then redis.call('SREM', KEYS[6], ARGV[6]) end
if ARGV[4] == '1' then
  redis.call('PUBLISH', ARGV[9], stamp(''))
  redis.call('SET', KEYS[4], '1', 'PX', ttl)
  return {1, epoch, ''}
end
-- Never below what a stream holds already (a seq key lost alone).
local seq = tonumber(redis.call('GET', KEYS[3]) or '0')
local top = lastseq(KEYS[5])
for i = 7, #KEYS, 2 do
  local s = lastseq(KEYS[i])
  if s > top then top = s end
end
if top > seq then seq = top end
seq = seq + 1
local sseq = fmt(seq)
redis.call('SET', KEYS[3], sseq)
local offset = epoch .. '-' .. sseq
local id = sseq .. '-0'
local occurred = ARGV[7]
-- The log of (seq, append time): everything below its first entry expired.
redis.call('XADD', KEYS[5], id, 'a', snow, 't', occurred)
local cutoff = now - ttl
local keep, from = nil, '-'
repeat
  local r = redis.call('XRANGE', KEYS[5], from, '+', 'COUNT', 128)
  if #r == 0 then keep = id break end
  for _, e in ipairs(r) do
    if tonumber(e[2][2]) >= cutoff then keep = e[1] break end
  end
  if not keep then from = '(' .. r[#r][1] end
until keep
redis.call('XTRIM', KEYS[5], 'MINID', keep)
redis.call('PEXPIRE', KEYS[5], ttl + 1000)
local expired = idseq(keep) - 1
local max = tonumber(ARGV[3])
local msg = stamp(offset)
for i = 7, #KEYS, 2 do
  local sk, lk = KEYS[i], KEYS[i + 1]
  -- New, or gone after its events expired: unknown up to `expired`.
  if redis.call('EXISTS', sk) == 0 then
    redis.call('DEL', lk)
    redis.call('HSET', lk, 'seq', fmt(expired), 'ts', '0')
  end
  redis.call('XADD', sk, id, 'a', snow, 't', occurred, 'm', msg)
  local lost = tonumber(redis.call('HGET', lk, 'seq') or '0')
  local lts = tonumber(redis.call('HGET', lk, 'ts') or '0')
  local function account(entries)
    for _, e in ipairs(entries) do
      local s = idseq(e[1])
      if s > lost then lost = s end
      local ts = tonumber(e[2][4])
      if ts and ts > lts then lts = ts end
    end
  end
  if expired > 0 then
    local old = redis.call('XRANGE', sk, '-', fmt(expired) .. '-0')
    if #old > 0 then
      account(old)
      redis.call('XTRIM', sk, 'MINID', fmt(expired + 1) .. '-0')
    end
  end
  local n = redis.call('XLEN', sk)
  if n > max then
    account(redis.call('XRANGE', sk, '-', '+', 'COUNT', n - max))
    redis.call('XTRIM', sk, 'MAXLEN', max)
  end
  redis.call('HSET', lk, 'seq', fmt(lost), 'ts', fmt(lts))
  redis.call('PEXPIRE', sk, ttl + 1000)
  redis.call('PEXPIRE', lk, ttl + 1000)
end
redis.call('PUBLISH', ARGV[9], msg)
redis.call('SET', KEYS[4], '1', 'PX', ttl)
return {1, epoch, offset}
