-- POST /introspect of a valid access token, as the client it was issued to.
-- An expired or unknown token still gets 200 {"active": false}, so a status check would not
-- notice a broken setup: every body is checked and misses are reported as errors.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "counters.lua")

wrk.method = "POST"
wrk.body = "token_type_hint=access_token&token="
  .. assert(os.getenv("BENCH_SERVICE_ACCESS_TOKEN"))
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. assert(os.getenv("BENCH_SERVICE_BASIC"))

inactive = 0

function response(status, headers, body)
  if status == 200 and not body:find('"active":%s*true') then
    inactive = inactive + 1
  end
end

function done(summary, latency, requests)
  report({ "inactive" })
end
