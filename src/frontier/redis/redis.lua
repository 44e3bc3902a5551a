-- The shared frontier's atomic operations, run inside Redis (one script per
-- operation, loaded by SHA; the client reloads them after a Redis restart).
--
-- Every key of a crawl starts with the prefix P = "trawl:{<crawl_id>}:" (one hash
-- slot), passed as ARGV[1]; KEYS[1] is P.."c", declared so that a Redis Cluster
-- routes the call to the node serving the crawl's slot (every other key of the
-- crawl shares that slot through the hash tag, so it is local to the same node).
-- ARGV[2] is the operation, ARGV[3] the leases this process finished since its
-- last call (see `settle`), and the operation's own arguments follow:
--   P.."c"          hash: counters queued, leased, active, started, done, discarded,
--                   errors, e:<kind>, hosts, seq (lease ids)
--   P.."v:"..B      set: visited fingerprints, bucket B = the top 16 bits; members
--                   are the low 48 bits as integers, so buckets stay intsets
--                   (8 bytes a URL) up to 512 members each
--   P.."q:"..H      list: host H's queued URLs, each "F" (fresh) + JSON
--   P.."r:"..H      list: host H's URLs to try again ("R" + JSON), taken before q:H,
--                   so a spent page budget never strands a retry behind fresh URLs
--   P.."h:"..H      hash: host H's inflight, next (ms: not before), iv (ms between
--                   requests, when robots.txt Crawl-delay slows it), cap and base
--                   (its [[hosts]] table's concurrency and ms between requests,
--                   when one matches it), admitted,
--                   fails, fail0 and failN (connection failures in a row, the first's
--                   and the last counted one's ms),
--                   dead (why it was declared unreachable)
--   P.."ready"      zset: hosts with queued URLs and a free slot, by next (ms)
--   P.."fresh"      zset: the same for hosts never leased from (served after ready)
--   P.."l:"..W      hash: worker W's leases, id -> H.."\n"..item
--   P.."w"          zset: live workers by last heartbeat (ms)
--   P.."lastbeat"   string: when any worker last beat (ms): a long silence from
--                   everyone is an outage, not a fleet of dead workers
--   P.."wi:"..W     hash: worker W's last report (JSON) and when it left
--   P.."ws"         set: every worker that ever beat (for `trawl status`)
--   P.."settings"   string: the crawl's settings (JSON), set by the first process
--   P.."seeds"      set: every seed URL given to any process (their hosts are in scope)
--   P.."seeding"    set: workers still admitting their seeds (see `seeding`): while a
--                   live one is, an empty frontier is not a finished crawl
-- Time is Redis's own clock (TIME), so processes on machines with skewed clocks
-- still space a host's requests correctly.

local P = ARGV[1]
local C = P .. 'c'
-- The finished leases ride along in ARGV[3]; the operation's own arguments
-- follow from ARGV[4] (the `ARGV:` lists below name them from there on).
local settled = ARGV[3]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function num(v)
  return tonumber(v or '0') or 0
end

-- True while a live worker still admits its seeds; forgets the ones no longer
-- live (reaped, or gone without saying so).
local function seeding()
  for _, s in ipairs(redis.call('SMEMBERS', P .. 'seeding')) do
    if redis.call('ZSCORE', P .. 'w', s) then return true end
    redis.call('SREM', P .. 'seeding', s)
  end
  return false
end

local function queued(h)
  return redis.call('LLEN', P .. 'q:' .. h) + redis.call('LLEN', P .. 'r:' .. h)
end

-- Host h's concurrency: its [[hosts]] table's, else the crawl's.
local function cap_of(hk, conc)
  return tonumber(redis.call('HGET', hk, 'cap') or conc) or conc
end

-- Puts host h in the ready set if it has queued URLs and a free slot (in the
-- fresh set while it was never leased from: `take` serves started hosts first);
-- an unreachable host's URLs go at once (they are recorded, not fetched).
local function wake(h, conc)
  local hk = P .. 'h:' .. h
  if queued(h) == 0 then return end
  if redis.call('HEXISTS', hk, 'dead') == 1 then
    redis.call('ZADD', P .. 'ready', 0, h)
  elseif redis.call('HEXISTS', hk, 'inflight') == 0 then
    redis.call('ZADD', P .. 'fresh', 'NX', num(redis.call('HGET', hk, 'next')), h)
  elseif num(redis.call('HGET', hk, 'inflight')) < cap_of(hk, conc) then
    redis.call('ZADD', P .. 'ready', 'NX', num(redis.call('HGET', hk, 'next')), h)
  end
end

-- What an attempt learned of host h: news is "" (nothing), "ok" (it answered),
-- "f" and the failure, or "b" and why the address guard refused the host (given up
-- at once: nothing will ever be fetched there). A response resets the count of connection-level failures
-- in a row; `after` of them within `window` ms, each at least `gap` ms after the
-- last one counted, declare the host unreachable (frontier::Unreachable).
-- Returns 2 when this call did, 1 otherwise.
local function contact(h, news, after, window, gap, conc)
  if news == nil or news == '' then return 1 end
  local hk = P .. 'h:' .. h
  if news == 'ok' then
    redis.call('HDEL', hk, 'fails', 'fail0', 'failN')
    return 1
  end
  after = tonumber(after) or 0
  if after <= 0 or redis.call('HEXISTS', hk, 'dead') == 1 then return 1 end
  if string.byte(news, 1) == 98 then
    redis.call('HSET', hk, 'dead', string.sub(news, 2))
    wake(h, conc)
    return 2
  end
  local now = now_ms()
  local first = num(redis.call('HGET', hk, 'fail0'))
  local fails = 1
  if first == 0 or now - first > (tonumber(window) or 0) then
    redis.call('HSET', hk, 'fail0', now, 'failN', now, 'fails', 1)
  elseif now - num(redis.call('HGET', hk, 'failN')) < (tonumber(gap) or 0) then
    return 1
  else
    fails = redis.call('HINCRBY', hk, 'fails', 1)
    redis.call('HSET', hk, 'failN', now)
  end
  if fails < after then return 1 end
  redis.call('HSET', hk, 'dead', string.sub(news, 2))
  wake(h, conc)
  return 2
end

-- The list an item goes back to: retries to r:H, fresh URLs to q:H.
local function list_for(h, item)
  if string.byte(item, 1) == 82 then return P .. 'r:' .. h end
  return P .. 'q:' .. h
end

-- A lease as stored: its host and its item.
local function split(v)
  local nl = string.find(v, '\n', 1, true)
  return string.sub(v, 1, nl - 1), string.sub(v, nl + 1)
end

-- Undoes a lease: the URL goes to the front of its host's queue.
local function unlease(h, item, conc, restart)
  local hk = P .. 'h:' .. h
  redis.call('LPUSH', list_for(h, item), item)
  redis.call('HINCRBY', hk, 'inflight', -1)
  redis.call('HINCRBY', C, 'queued', 1)
  redis.call('HINCRBY', C, 'leased', -1)
  if restart and string.byte(item, 1) == 70 then
    -- A fresh URL handed back was never attempted: it leaves the page budget.
    redis.call('HINCRBY', C, 'active', -1)
    redis.call('HINCRBY', C, 'started', -1)
  end
  wake(h, conc)
end

-- Hands every lease of worker w back to the queues.
local function requeue_all(w, conc)
  local lk = P .. 'l:' .. w
  local all = redis.call('HGETALL', lk)
  for i = 1, #all, 2 do
    local h, item = split(all[i + 1])
    unlease(h, item, conc, true)
  end
  redis.call('DEL', lk)
  return #all / 2
end

-- Ends lease `id` of worker w: counted as `counter` ("done" or "discarded"), with
-- error kind `kind` ("" for none), and what it learned of its host (see contact).
-- A lease already handed back (its process was taken for dead) changes nothing.
local function finish(w, id, conc, counter, kind, news, after, window, gap)
  local lk = P .. 'l:' .. w
  local stored = redis.call('HGET', lk, id)
  if not stored then return 0 end
  redis.call('HDEL', lk, id)
  local h = split(stored)
  redis.call('HINCRBY', P .. 'h:' .. h, 'inflight', -1)
  redis.call('HINCRBY', C, 'leased', -1)
  redis.call('HINCRBY', C, 'active', -1)
  redis.call('HINCRBY', C, counter, 1)
  if kind ~= '' then
    redis.call('HINCRBY', C, 'errors', 1)
    redis.call('HINCRBY', C, 'e:' .. kind, 1)
  end
  wake(h, conc)
  return contact(h, news, after, window, gap, conc)
end

-- Leases this process finished since its last call, each "id counter kind news;"
-- with counter "d" (done) or "x" (discarded) and news "" or "ok" (a lease whose end
-- could declare its host unreachable is never deferred: the caller needs the
-- answer). Applied before the operation, so a `take` sees the slots they free and
-- a `leave` never hands back a lease already recorded. Replayed after a lost
-- reply, they change nothing (the lease is gone).
local function settle(w, conc)
  if settled == nil or settled == '' then return end
  for id, c, kind, news in string.gmatch(settled, '(%d+) (%a) (%S*) (%a*);') do
    finish(w, id, conc, c == 'x' and 'discarded' or 'done', kind, news, 0, 0, 0)
  end
end

-- Takes up to n leases for worker w, of which at most `room` (what the process
-- can start at once) from rate-limited hosts: their spacing counts from the lease,
-- so they must not wait in the process's buffer. Those come first.
-- Returns (id, host, item, unreachable cause or "") quadruples (maybe none).
local function take(w, n, conc, dflt, maxp, room)
  local now = now_ms()
  local paced, out = {}, {}
  -- Started hosts first, then hosts never leased from (the schedule's rule: a crawl
  -- finishes what it began before it opens more).
  local hosts = redis.call('ZRANGEBYSCORE', P .. 'ready', '-inf', now, 'LIMIT', 0, n)
  local fresh = {}
  if #hosts < n then
    for _, h in ipairs(redis.call('ZRANGEBYSCORE', P .. 'fresh', '-inf', now, 'LIMIT', 0, n - #hosts)) do
      fresh[h] = true
      hosts[#hosts + 1] = h
    end
  end
  for _, h in ipairs(hosts) do
    local hk, qk, rk = P .. 'h:' .. h, P .. 'q:' .. h, P .. 'r:' .. h
    -- A fresh host leaves its set unless it is left untouched below.
    if fresh[h] then redis.call('ZREM', P .. 'fresh', h) end
    local nxt = num(redis.call('HGET', hk, 'next'))
    -- An unreachable host keeps no politeness: its URLs are recorded, not fetched.
    local dead = redis.call('HGET', hk, 'dead')
    if nxt > now and not dead then
      -- Paused since it was queued (retry, Crawl-delay): wait for its time.
      redis.call('ZADD', P .. (fresh[h] and 'fresh' or 'ready'), nxt, h)
    else
      local iv = tonumber(redis.call('HGET', hk, 'iv') or redis.call('HGET', hk, 'base') or dflt)
      local cap = cap_of(hk, conc)
      if dead then iv = 0; cap = math.huge end
      local inflight = num(redis.call('HGET', hk, 'inflight'))
      local keep = true
      local dst = out
      if iv > 0 then dst = paced end
      -- A rate-limited host when the process has no room for it: left as it is.
      if iv > 0 and #paced >= 4 * room then keep = nil end
      while keep and #out + #paced < 4 * n do
        if inflight >= cap then keep = false; break end
        local from = rk
        local item = redis.call('LINDEX', rk, 0)
        if not item then
          from = qk
          item = redis.call('LINDEX', qk, 0)
        end
        if not item then keep = false; break end
        if from == qk then
          if maxp > 0 and num(redis.call('HGET', C, 'started')) >= maxp then
            keep = false; break
          end
          redis.call('HINCRBY', C, 'started', 1)
          redis.call('HINCRBY', C, 'active', 1)
        end
        redis.call('LPOP', from)
        inflight = inflight + 1
        redis.call('HSET', hk, 'inflight', inflight, 'next', now + iv)
        redis.call('HINCRBY', C, 'queued', -1)
        redis.call('HINCRBY', C, 'leased', 1)
        local id = redis.call('HINCRBY', C, 'seq', 1)
        redis.call('HSET', P .. 'l:' .. w, id, h .. '\n' .. item)
        dst[#dst + 1] = id
        dst[#dst + 1] = h
        dst[#dst + 1] = item
        dst[#dst + 1] = dead or ''
        -- A rate-limited host gives one URL per interval, whoever asks.
        if iv > 0 then break end
      end
      if keep == nil then
        -- untouched: still ready, for a process with room
        if fresh[h] then redis.call('ZADD', P .. 'fresh', now, h) end
      elseif keep and inflight < cap and queued(h) > 0 then
        redis.call('ZADD', P .. 'ready', now + iv, h)
      else
        redis.call('ZREM', P .. 'ready', h)
      end
    end
    if #out + #paced >= 4 * n then break end
  end
  for _, v in ipairs(out) do paced[#paced + 1] = v end
  return paced
end

local op = ARGV[2]
-- Every operation that names a worker and a concurrency first settles its finished
-- leases (the rest carry none).
if settled ~= nil and settled ~= '' then
  local conc = ({ admit = ARGV[5], take = ARGV[6], done = ARGV[6], back = ARGV[6],
    beat = ARGV[6], leave = ARGV[5], settle = ARGV[5] })[op]
  if conc == nil then return redis.error_reply('finished leases given to ' .. tostring(op)) end
  settle(ARGV[4], tonumber(conc))
end

if op == 'admit' then
  -- ARGV: P, op, settled, worker, conc, max_per_host, then `lease` (how many URLs
  -- to lease in the same call), the default interval ms and max_pages, then
  -- (bucket, member, host, item) per URL. Returns per URL: 1 new, 0 already seen,
  -- 2 refused (host budget spent); then, with `lease` > 0 (a page's links, admitted
  -- by the task about to finish it), up to that many leases, from hosts that are
  -- not rate-limited (a paced lease must be fetched at once, and the task is not
  -- free yet).
  local conc, cap = tonumber(ARGV[5]), tonumber(ARGV[6])
  local want, dflt, maxp = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
  local res = {}
  for i = 10, #ARGV, 4 do
    local vk, m, h, item = P .. 'v:' .. ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local hk = P .. 'h:' .. h
    local code = 0
    if cap > 0 and num(redis.call('HGET', hk, 'admitted')) >= cap then
      if redis.call('SISMEMBER', vk, m) == 0 then code = 2 end
    elseif redis.call('SADD', vk, m) == 1 then
      code = 1
      if redis.call('HINCRBY', hk, 'admitted', 1) == 1 then
        redis.call('HINCRBY', C, 'hosts', 1)
      end
      redis.call('RPUSH', P .. 'q:' .. h, item)
      redis.call('HINCRBY', C, 'queued', 1)
      wake(h, conc)
    end
    res[#res + 1] = code
  end
  if want > 0 then
    for _, v in ipairs(take(ARGV[4], want, conc, dflt, maxp, 0)) do res[#res + 1] = v end
  end
  return res

elseif op == 'take' then
  -- ARGV: P, op, settled, worker, n, conc, default interval ms, max_pages, room (see take).
  -- Returns lease quadruples, or {"done"}, {"wait", ms} or {"idle"}.
  local n = tonumber(ARGV[5])
  local maxp = tonumber(ARGV[8])
  local got = take(ARGV[4], n, tonumber(ARGV[6]), tonumber(ARGV[7]), maxp,
    tonumber(ARGV[9] or n) or n)
  if #got > 0 then return got end
  local now = now_ms()
  -- The crawl's state is gone (Redis restarted without persistence, flushed,
  -- evicted): say so rather than report an empty frontier as a finished crawl.
  if redis.call('EXISTS', P .. 'settings') == 0 then return { 'lost' } end
  local queued, leased = num(redis.call('HGET', C, 'queued')), num(redis.call('HGET', C, 'leased'))
  -- A spent page budget ends the crawl whatever is still being seeded.
  if maxp > 0 and num(redis.call('HGET', C, 'started')) >= maxp and num(redis.call('HGET', C, 'active')) <= 0 then
    return { 'done' }
  end
  if queued <= 0 and leased <= 0 then
    if seeding() then return { 'wait', 50 } end
    return { 'done' }
  end
  local at = nil
  for _, set in ipairs({ 'ready', 'fresh' }) do
    local first = redis.call('ZRANGE', P .. set, 0, 0, 'WITHSCORES')
    if #first > 0 and (at == nil or tonumber(first[2]) < at) then at = tonumber(first[2]) end
  end
  if at ~= nil then return { 'wait', math.max(1, at - now) } end
  return { 'idle' }

elseif op == 'done' then
  -- ARGV: P, op, settled, worker, id, conc, counter ("done" or "discarded"), error kind or "",
  -- then the contact news and the rule: failures, window ms, gap ms (see contact).
  return finish(ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12])

elseif op == 'back' then
  -- ARGV: P, op, settled, worker, id, conc, delay ms, new item ("" = hand back as taken),
  -- then the contact arguments as for 'done'.
  -- The host waits `delay` (retry backoff, Retry-After, a robots.txt fetch's slot).
  local lk, id, conc = P .. 'l:' .. ARGV[4], ARGV[5], tonumber(ARGV[6])
  local stored = redis.call('HGET', lk, id)
  if not stored then return 0 end
  redis.call('HDEL', lk, id)
  local h, taken = split(stored)
  local hk = P .. 'h:' .. h
  local until_ms = now_ms() + tonumber(ARGV[7])
  if num(redis.call('HGET', hk, 'next')) < until_ms then
    redis.call('HSET', hk, 'next', until_ms)
  end
  local item = ARGV[8]
  local restart = item == ''
  if restart then item = taken end
  unlease(h, item, conc, restart)
  local res = contact(h, ARGV[9], ARGV[10], ARGV[11], ARGV[12], conc)
  if redis.call('HEXISTS', hk, 'dead') == 1 then
    redis.call('ZADD', P .. 'ready', 0, h)
  else
    redis.call('ZADD', P .. 'ready', num(redis.call('HGET', hk, 'next')), h)
  end
  return res

elseif op == 'settle' then
  -- ARGV: P, op, settled, worker, conc: only settles (leases no other call carried).
  return 1

elseif op == 'hostcfg' then
  -- ARGV: P, op, settled, host, concurrency, ms between requests (0 = no limit): a
  -- [[hosts]] table's politeness, told by every process (they agree on it).
  redis.call('HSET', P .. 'h:' .. ARGV[4], 'cap', tonumber(ARGV[5]), 'base', tonumber(ARGV[6]))
  return 1

elseif op == 'delay' then
  -- ARGV: P, op, settled, host, interval ms: robots.txt Crawl-delay slows the host for everyone.
  local hk = P .. 'h:' .. ARGV[4]
  local iv = tonumber(ARGV[5])
  redis.call('HSET', hk, 'iv', iv)
  local until_ms = now_ms() + iv
  if num(redis.call('HGET', hk, 'next')) < until_ms then
    redis.call('HSET', hk, 'next', until_ms)
  end
  return 1

elseif op == 'hold' then
  -- ARGV: P, op, settled, host, ms: the host's slots were used outside the frontier (a
  -- rendered page's own requests): its next request waits, in every process.
  local hk = P .. 'h:' .. ARGV[4]
  local until_ms = now_ms() + tonumber(ARGV[5])
  if redis.call('EXISTS', hk) == 1 and num(redis.call('HGET', hk, 'next')) < until_ms then
    redis.call('HSET', hk, 'next', until_ms)
  end
  return 1

elseif op == 'beat' then
  -- ARGV: P, op, settled, worker, ttl ms, conc, report JSON.
  -- Marks the worker alive, hands back the leases of workers silent for ttl, and
  -- returns {now, reaped, seeds, settings exist (1/0), leases held by this worker,
  -- counter name/value pairs...}.
  local w, ttl, conc = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
  local now = now_ms()
  local last = num(redis.call('GET', P .. 'lastbeat'))
  redis.call('SET', P .. 'lastbeat', now)
  redis.call('ZADD', P .. 'w', now, w)
  redis.call('SADD', P .. 'ws', w)
  redis.call('HSET', P .. 'wi:' .. w, 'report', ARGV[7], 'seen', now)
  redis.call('HDEL', P .. 'wi:' .. w, 'left', 'how')
  local reaped = 0
  if last > 0 and now - last > 3000 then
    -- Nobody beat for over 3 s although everyone beats every second: Redis was
    -- away (or the whole fleet was). Everyone gets a fresh ttl, nobody is reaped.
    local all = redis.call('ZRANGE', P .. 'w', 0, -1)
    for _, d in ipairs(all) do redis.call('ZADD', P .. 'w', 'XX', now, d) end
  else
    for _, d in ipairs(redis.call('ZRANGEBYSCORE', P .. 'w', '-inf', now - ttl)) do
      reaped = reaped + requeue_all(d, conc)
      redis.call('ZREM', P .. 'w', d)
      redis.call('HSET', P .. 'wi:' .. d, 'left', now, 'how', 'lost')
    end
  end
  local res = { now, reaped, redis.call('SCARD', P .. 'seeds'),
    redis.call('EXISTS', P .. 'settings'), redis.call('HLEN', P .. 'l:' .. w) }
  for _, v in ipairs(redis.call('HGETALL', C)) do res[#res + 1] = v end
  return res

elseif op == 'seeding' then
  -- ARGV: P, op, settled, worker, 1 (starts admitting its seeds) or 0 (done).
  if ARGV[5] == '1' then
    redis.call('SADD', P .. 'seeding', ARGV[4])
  else
    redis.call('SREM', P .. 'seeding', ARGV[4])
  end
  return 1

elseif op == 'leave' then
  -- ARGV: P, op, settled, worker, conc, report JSON. A clean exit: leases go back at once.
  local w, conc = ARGV[4], tonumber(ARGV[5])
  local n = requeue_all(w, conc)
  redis.call('ZREM', P .. 'w', w)
  redis.call('SREM', P .. 'seeding', w)
  redis.call('HSET', P .. 'wi:' .. w, 'report', ARGV[6], 'left', now_ms(), 'how', 'exited')
  return n
end

return redis.error_reply('unknown frontier operation ' .. tostring(op))
