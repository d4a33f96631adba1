-- The second step: each request a different waiting sign-in (nidan_pending cookie) with the
-- code its app shows now; lines "TOKEN CODE" from examples/seed.rs, file in $PAIRS.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  list = {}
  for line in io.lines(os.getenv("PAIRS")) do
    local token, code = line:match("(%S+) (%S+)")
    list[#list + 1] = { token, code }
  end
  -- WRONG=1: every code off by one, a brute-force storm spread over the waiting sign-ins.
  wrong = os.getenv("WRONG") == "1"
  step = 2
  index = id + 1 - step
end

function request()
  index = index + step
  local pair = list[index] or list[1]
  local code = pair[2]
  if wrong then
    code = string.format("%06d", (tonumber(code) + 1) % 1000000)
  end
  return wrk.format("POST", "/api/v1/login/totp", {
    ["Cookie"] = "nidan_pending=" .. pair[1],
    ["Content-Type"] = "application/json",
    ["X-Requested-With"] = "wrk",
  }, '{"code":"' .. code .. '"}')
end
