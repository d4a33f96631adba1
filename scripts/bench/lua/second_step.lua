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
  step = 2
  index = id + 1 - step
end

function request()
  index = index + step
  local pair = list[index] or list[1]
  return wrk.format("POST", "/api/v1/login/totp", {
    ["Cookie"] = "nidan_pending=" .. pair[1],
    ["Content-Type"] = "application/json",
    ["X-Requested-With"] = "wrk",
  }, '{"code":"' .. pair[2] .. '"}')
end
