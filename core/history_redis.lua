-- history_redis.lua - the Redis history's append: one or more events,
-- appended in order, atomically, by one EVALSHA from
-- core/history_redis_append.c, which embeds this file at build time.
--
-- For each event in turn: dedupe, the membership sets, seq, the global
-- log, the room streams, then PUBLISH, and the eventId key written last,
-- so that an event that failed half-way is retried in full rather than
-- taken for a duplicate. What one event does is the same whether it comes
-- alone or with others; what a call does once for all of them (TIME, the
-- epoch, the seq key, trimming the log to the TTL window, each room's
-- trimming and lost marker, the keys' expiry) ends in the state one call
-- per event would leave. An event that fails (a Redis error) stops the
-- call: the events before it are appended, those after it are not
-- touched, and the call still finishes their bookkeeping and answers.
-- docs/history.md has the key layout.
--
-- KEYS: 1 epoch, 2 epoch start, 3 seq, 4 log, then per event: its eventId,
--       its member set (member events only), and (room stream, room lost
--       marker) per room.
-- ARGV: 1 epoch candidate, 2 ttl ms, 3 max per room, 4 bus channel, then
--       per event: 1 its shape: "s" stored or "t" transient, then "-", "a"
--       (member added) or "r" (member removed), then the number of rooms
--       ("s-1", "ta2"); 2 occurred ms; 3 body (the message after the "{"
--       that opens its envelope: the envelope's fields but offset, "}",
--       "\n", payload); 4 the member program (member events only).
-- Returns {epoch, err, status, seq, status, seq, ...}: one status and seq
-- per event handled, in order (1 and its seq, 0 when transient: appended;
-- 0 and 0: a duplicate); its offset is "<epoch>-<seq>". err is "" when
-- every event was handled, else the error of the first one that was not.

local KEYS, ARGV, call, pcall, tonumber = KEYS, ARGV, redis.call, pcall, tonumber
local format, match, sub, byte = string.format, string.match, string.sub, string.byte
local T, NONE, ADD = byte('t'), byte('-'), byte('a')
local function fmt(n) return format('%d', n) end
local function idseq(id) return tonumber(match(id, '^(%d+)')) end
local function lastseq(key)
  local r = call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if r[1] then return idseq(r[1][1]) end
  return 0
end
local t = call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local snow = fmt(now)
if call('SET', KEYS[1], ARGV[1], 'NX') then
  call('SET', KEYS[2], snow)
end
local epoch = call('GET', KEYS[1])
local sttl, ttl = ARGV[2], tonumber(ARGV[2])
local smax, max = ARGV[3], tonumber(ARGV[3])
local channel = ARGV[4]
local cutoff = now - ttl
local skeep = fmt(ttl + 1000) -- keys expire this long after their last append

local seq = nil     -- the last seq given, once an event was stored
local recover = false -- the seq key was lost: seq comes from the streams
local expired = nil -- every seq up to it is past the TTL, once known
local rooms = {}    -- room stream key -> {lost marker key, lost seq, lost ts, changed}
local touched = {}  -- the room stream keys appended to, in that order
local known = {}    -- eventId key -> true: appended before, or by this call

-- Where each event's keys and arguments start, and its shape; then which
-- eventIds the store knows, all in one MGET.
local ks, as, transient, ops, nrooms = {}, {}, {}, {}, {}
local eids = {}
do
  local k, a, nargv = 5, 5, #ARGV
  while a + 2 <= nargv do
    local i, head = #ks + 1, ARGV[a]
    ks[i], as[i], eids[i] = k, a, KEYS[k]
    transient[i], ops[i], nrooms[i] = byte(head, 1) == T, byte(head, 2), tonumber(sub(head, 3))
    local member = ops[i] ~= NONE and 1 or 0
    k = k + 1 + member + 2 * nrooms[i]
    a = a + 3 + member
  end
  if #eids > 0 then
    local v = call('MGET', unpack(eids))
    for i, key in ipairs(eids) do
      if v[i] then known[key] = true end
    end
  end
end

local function stamp(body, off)
  return '{"offset":"' .. off .. '",' .. body
end

-- Trims the log's front while its entries are older than the TTL (id, just
-- added, is the newest); returns the seq below the first entry left.
local function trimlog(id)
  local keep, from, count = nil, '-', 1
  repeat
    local r = call('XRANGE', KEYS[4], from, '+', 'COUNT', count)
    if #r == 0 then keep = id break end
    for _, e in ipairs(r) do
      if tonumber(e[2][2]) >= cutoff then keep = e[1] break end
    end
    if not keep then from = '(' .. r[#r][1] count = 128 end
  until keep
  call('XTRIM', KEYS[4], 'MINID', keep)
  return idseq(keep) - 1
end

-- Event i: returns its status and offset. Every command that could fail on
-- what the store holds (a key of another type) is here, so that a failure
-- is the event's.
local function append(i)
  local k, a, op = ks[i], as[i], ops[i]
  local eid = KEYS[k]
  if known[eid] then return 0, 0 end
  local body, r0 = ARGV[a + 2], k + 1
  if op ~= NONE then
    call(op == ADD and 'SADD' or 'SREM', KEYS[k + 1], ARGV[a + 3])
    r0 = k + 2
  end
  local r1 = r0 + 2 * nrooms[i] - 1
  if transient[i] then
    call('PUBLISH', channel, stamp(body, ''))
    call('SET', eid, '1', 'PX', sttl)
    known[eid] = true
    return 1, 0
  end
  -- The seq key is never below what a stream holds (it is written in the
  -- same call as the entries). Lost alone, seq is raised above the last
  -- ids of the log and of the rooms instead, so that no XADD fails.
  if not seq then
    local s = call('GET', KEYS[3])
    seq = tonumber(s or '0')
    if not s then
      recover = true
      local top = lastseq(KEYS[4])
      if top > seq then seq = top end
    end
  end
  local last = {} -- when recovering, untouched room stream key -> its last seq
  if recover then
    for j = r0, r1, 2 do
      if not rooms[KEYS[j]] then
        local s = lastseq(KEYS[j])
        last[KEYS[j]] = s
        if s > seq then seq = s end
      end
    end
  end
  seq = seq + 1
  local sseq = fmt(seq)
  local id = sseq .. '-0'
  local occurred = ARGV[a + 1]
  -- The log of (seq, append time): everything below its first entry expired.
  call('XADD', KEYS[4], id, 'a', snow, 't', occurred)
  if not expired then expired = trimlog(id) end
  local msg = '{"offset":"' .. epoch .. '-' .. sseq .. '",' .. body
  for j = r0, r1, 2 do
    local sk, lk = KEYS[j], KEYS[j + 1]
    local room = rooms[sk]
    if not room then
      -- New, or gone after its events expired: unknown up to `expired`.
      -- (A stream with entries exists; an empty one may too.)
      if not (last[sk] and last[sk] > 0) and call('EXISTS', sk) == 0 then
        call('DEL', lk)
        call('HSET', lk, 'seq', fmt(expired), 'ts', '0')
        room = {lk, expired, 0, false}
      else
        local m = call('HMGET', lk, 'seq', 'ts')
        room = {lk, tonumber(m[1] or '0'), tonumber(m[2] or '0'), not (m[1] and m[2])}
      end
    end
    call('XADD', sk, id, 'a', snow, 't', occurred, 'm', msg)
    if not rooms[sk] then
      rooms[sk] = room
      touched[#touched + 1] = sk
    end
  end
  call('PUBLISH', channel, msg)
  call('SET', eid, '1', 'PX', sttl)
  known[eid] = true
  return 1, seq
end

local out = {epoch, ''}
for i = 1, #ks do
  local ok, status, s = pcall(append, i)
  if not ok then
    out[2] = type(status) == 'table' and (status.err or 'error') or tostring(status)
    break
  end
  out[#out + 1] = status
  out[#out + 1] = s
end

-- Each room appended to: drop entries with seq <= expired (TTL) and,
-- beyond max, the oldest (count); every dropped entry raises the lost
-- marker. The keys are of the right types by now: nothing here fails.
local sexpired = expired and fmt(expired) .. '-0'
local sfirst = expired and fmt(expired + 1) .. '-0'
for _, sk in ipairs(touched) do
  local lk, lost, lts, changed = rooms[sk][1], rooms[sk][2], rooms[sk][3], rooms[sk][4]
  local function account(entries)
    for _, e in ipairs(entries) do
      local s = idseq(e[1])
      if s > lost then lost = s changed = true end
      local ts = tonumber(e[2][4])
      if ts and ts > lts then lts = ts changed = true end
    end
  end
  if expired > 0 then
    local old = call('XRANGE', sk, '-', sexpired)
    if #old > 0 then
      account(old)
      call('XTRIM', sk, 'MINID', sfirst)
    end
  end
  local n = call('XLEN', sk)
  if n > max then
    account(call('XRANGE', sk, '-', '+', 'COUNT', fmt(n - max)))
    call('XTRIM', sk, 'MAXLEN', smax)
  end
  if changed then call('HSET', lk, 'seq', fmt(lost), 'ts', fmt(lts)) end
  call('PEXPIRE', sk, skeep)
  call('PEXPIRE', lk, skeep)
end
if seq then
  call('SET', KEYS[3], fmt(seq))
  call('PEXPIRE', KEYS[4], skeep)
end
return out
