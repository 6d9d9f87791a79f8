-- GET /v1/tasks/{task_id} of one task created beforehand; the URL on the command line names it.
-- Usage: wrk ... -s poll.lua http://HOST:PORT/v1/tasks/TASK_ID [-- API_KEY]
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

function init(args)
  wrk.method = "GET"
  wrk.headers["Authorization"] = "Bearer " .. (args[1] or "sk-bench")
end
