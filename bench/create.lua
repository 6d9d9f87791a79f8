-- POST /v1/images/generations as a user's client sends it: JSON body, Bearer key, Content-Type.
-- Usage: wrk ... -s create.lua http://HOST:PORT/v1/images/generations -- 'BODY_JSON' [API_KEY]
-- The body comes from bench/load.py (create_body), so the Python side and wrk send the same bytes.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

function init(args)
  if args[1] == nil or args[1] == "" then
    error("create.lua needs the JSON body as its first argument (after --)")
  end
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Authorization"] = "Bearer " .. (args[2] or "sk-bench")
  wrk.headers["Content-Type"] = "application/json"
end
