-- Shared by the scripts that count something wrk does not: each wrk thread has its own Lua
-- state, so setup() (main state) keeps the thread handles, numbers the threads, and
-- report() adds up one global of every thread once the run is over.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- Prints "bench: NAME=TOTAL" (and "bench: NAME_max=LARGEST" when asked) for
-- bench/wrkstats.py and the driver.
function report(names, with_max)
  for _, name in ipairs(names) do
    local total, largest = 0, 0
    for _, thread in ipairs(threads) do
      local value = tonumber(thread:get(name)) or 0
      total = total + value
      largest = math.max(largest, value)
    end
    io.write(string.format("bench: %s=%d\n", name, total))
    if with_max then
      io.write(string.format("bench: %s_max=%d\n", name, largest))
    end
  end
end
