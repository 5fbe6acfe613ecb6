-- POST /token grant_type=refresh_token: every request presents a fresh, never-used token.
--
-- Arguments (after `--`): POOL_FILE FIRST COUNT THREADS. The run may use lines
-- FIRST .. FIRST+COUNT-1 (0-based) of the pool file, dealt round-robin to the wrk threads
-- (thread k gets FIRST+k, FIRST+k+THREADS, ...), so no token is ever sent twice. At the end
-- it prints how many each thread used (`used`, `used_max`): the driver starts the next run
-- at FIRST + THREADS * used_max. A thread that runs dry sends a dummy token, which idp
-- answers 400 (wrk counts it), and counts it in `exhausted`.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "counters.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. assert(os.getenv("BENCH_WEB_BASIC"))

pool = {}
used = 0
exhausted = 0

function init(args)
  local path, first, count, threads = args[1], tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  assert(path and first and count and threads, "args: POOL_FILE FIRST COUNT THREADS")
  local line_no = 0
  for line in io.lines(path) do
    if line_no >= first + count then
      break
    end
    if line_no >= first and (line_no - first) % threads == tid and line ~= "" then
      pool[#pool + 1] = line
    end
    line_no = line_no + 1
  end
end

function request()
  local token = pool[used + 1]
  if token == nil then
    exhausted = exhausted + 1
    token = "pool-exhausted"
  else
    used = used + 1
  end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end

function done(summary, latency, requests)
  report({ "used" }, true)
  report({ "exhausted" })
end
