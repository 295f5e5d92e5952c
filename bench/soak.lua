-- wrk script of bench/soak.sh: one traffic stream per wrk process, chosen by the first argument
-- after `--`; request bodies come from pool files written by bench/soak_client.py prepare.
--
--   wrk ... -s bench/soak.lua URL -- recommend POOL_DIR   members, fresh-event members, anonymous
--   wrk ... -s bench/soak.lua URL -- events POOL_DIR      1-4 events per request, known and new users
--   wrk ... -s bench/soak.lua URL -- decide POOL_DIR      /v1/decide on OBD contexts, then
--                                                         /v1/reward for half of the decisions
--   wrk ... -s bench/soak.lua URL -- predict POOL_DIR     /v1/predict with 1-8 UCI rows
-- A third argument, THINK_MS > 0, makes each connection wait that long between requests.
--
-- Every response is classified; done() prints one line that soak.sh parses:
--   SOAK stream=NAME responses=N s2xx=N s4xx=N s5xx=N other=N acked_events=N
--        acked_decisions=N acked_rewards=N bad_body=N
-- acked_* count only what a 200 answer acknowledged (events: the "accepted" count).

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

-- Globals, so that done() can read them from each thread (thread:get).
mode = nil
stats = {responses = 0, s2xx = 0, s4xx = 0, s5xx = 0, other = 0, acked_events = 0,
               acked_decisions = 0, acked_rewards = 0, bad_body = 0}
local pool
local lines = {}
local pending = {}  -- decision ids waiting for their reward (decide mode)
local seq = 0

local function read_pool(name)
  local t = {}
  for line in io.lines(pool .. "/" .. name) do t[#t + 1] = line end
  assert(#t > 0, "empty pool " .. name)
  return t
end

function init(args)
  mode, pool = args[1], args[2]
  assert(mode and pool, "usage: -- MODE POOL_DIR [THINK_MS]")
  local think = tonumber(args[3] or "0")
  if think > 0 then
    delay = function() return think end  -- milliseconds between a response and the next request
  end
  math.randomseed(os.time() + (tid or 0) * 7919)
  if mode == "recommend" then
    lines.members = read_pool("members.txt")      -- training users, no fresh events
    lines.fresh = read_pool("fresh_members.txt")  -- training users the events stream plays for
    lines.anon = read_pool("anon_bodies.jsonl")   -- {"model", "history", "k"} bodies
  elseif mode == "events" then
    lines.fresh = read_pool("fresh_members.txt")
    lines.items = read_pool("items.txt")
  elseif mode == "decide" then
    lines.bodies = read_pool("decide_bodies.jsonl")
  elseif mode == "predict" then
    lines.bodies = read_pool("predict_bodies.jsonl")
  else
    error("unknown mode " .. tostring(mode))
  end
end

local headers = {["Content-Type"] = "application/json"}
local model = "ml100k-ease@production"

local function post(path, body)
  return wrk.format("POST", path, headers, body)
end

local function pick(t)
  return t[math.random(#t)]
end

request = function()
  seq = seq + 1
  if mode == "recommend" then
    local r = math.random()
    if r < 0.2 then
      return post("/v1/recommend", pick(lines.anon))
    elseif r < 0.4 then
      return post("/v1/recommend",
                  '{"model": "' .. model .. '", "user": "' .. pick(lines.fresh) .. '", "k": 10}')
    end
    return post("/v1/recommend",
                '{"model": "' .. model .. '", "user": "' .. pick(lines.members) .. '", "k": 10}')
  elseif mode == "events" then
    local n = math.random(4)
    local parts = {}
    for i = 1, n do
      local user
      if math.random() < 0.5 then
        user = pick(lines.fresh)
      else
        user = "soak-new-" .. tid .. "-" .. seq  -- a member the models have never seen
      end
      parts[i] = string.format('{"user": "%s", "item": "%s", "type": "play", "value": 1.0}', user,
                               pick(lines.items))
    end
    return post("/v1/events", '{"events": [' .. table.concat(parts, ", ") .. ']}')
  elseif mode == "decide" then
    if #pending > 0 then
      local id = table.remove(pending)
      local reward = math.random() < 0.1 and "1.0" or "0.0"
      return post("/v1/reward", '{"decision_id": "' .. id .. '", "reward": ' .. reward .. '}')
    end
    return post("/v1/decide", pick(lines.bodies))
  else
    return post("/v1/predict", pick(lines.bodies))
  end
end

response = function(status, headers, body)
  stats.responses = stats.responses + 1
  if status >= 200 and status < 300 then
    stats.s2xx = stats.s2xx + 1
  elseif status >= 400 and status < 500 then
    stats.s4xx = stats.s4xx + 1
    return
  elseif status >= 500 and status < 600 then
    stats.s5xx = stats.s5xx + 1
    return
  else
    stats.other = stats.other + 1
    return
  end
  if mode == "events" then
    local n = body:match('"accepted":(%d+)')
    if n then
      stats.acked_events = stats.acked_events + tonumber(n)
    else
      stats.bad_body = stats.bad_body + 1
    end
  elseif mode == "decide" then
    if body:find('"joined":true', 1, true) then
      stats.acked_rewards = stats.acked_rewards + 1
    else
      local id = body:match('"decision_id":"(%x+)"')
      if id then
        stats.acked_decisions = stats.acked_decisions + 1
        if math.random() < 0.5 then pending[#pending + 1] = id end
      else
        stats.bad_body = stats.bad_body + 1
      end
    end
  elseif mode == "recommend" then
    if not body:find('"items":', 1, true) then stats.bad_body = stats.bad_body + 1 end
  else
    if not body:find('"predictions":', 1, true) then stats.bad_body = stats.bad_body + 1 end
  end
end

function done(summary, latency, requests)
  local total = {}
  local name
  for _, t in ipairs(threads) do
    name = t:get("mode")
    local s = t:get("stats")
    for k, v in pairs(s) do total[k] = (total[k] or 0) + v end
  end
  io.write(string.format(
      "SOAK stream=%s responses=%d s2xx=%d s4xx=%d s5xx=%d other=%d acked_events=%d " ..
      "acked_decisions=%d acked_rewards=%d bad_body=%d p99_ms=%.2f\n",
      name or "?", total.responses or 0, total.s2xx or 0, total.s4xx or 0, total.s5xx or 0,
      total.other or 0, total.acked_events or 0, total.acked_decisions or 0,
      total.acked_rewards or 0, total.bad_body or 0, latency:percentile(99) / 1000.0))
end
