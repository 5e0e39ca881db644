-- wrk script for bench/gateway: POSTs each body of the file named by
-- BENCH_BODIES once ("PATH LEN\n" then LEN bytes, repeated), then asks for
-- a path that is not there (a 404, which stores nothing) until every POST
-- is answered; prints the seconds from the first POST to the last answer
-- and the number of answers that were not 2xx, and ends wrk (which would
-- otherwise wait out its -d). Run with one thread: the counts are its own.
local paths, bodies, sent, answered, failed = {}, {}, 0, 0, 0
local f = assert(io.open(os.getenv("BENCH_BODIES"), "rb"))
while true do
	local head = f:read("*l")
	if not head then break end
	local path, len = head:match("^(%S+) (%d+)$")
	paths[#paths + 1] = path
	bodies[#bodies + 1] = f:read(tonumber(len))
end
f:close()
local total, started = #paths, nil

-- wall-clock seconds: wrk gives a script nothing finer than os.time
local function now()
	local p = io.popen("date +%s.%N")
	local t = tonumber(p:read("*l"))
	p:close()
	return t
end

-- wrk asks for one request before the run, to see whether it parses
local verified = false
function request()
	if not verified then
		verified = true
		return wrk.format("GET", "/none")
	end
	if sent < total then
		if sent == 0 then started = now() end
		sent = sent + 1
		return wrk.format("POST", paths[sent], nil, bodies[sent])
	end
	return wrk.format("GET", "/none")
end

function response(status)
	if status == 404 then return end
	answered = answered + 1
	if status >= 300 then failed = failed + 1 end
	if answered == total then
		io.write(string.format("%.3f %d\n", now() - started, failed))
		io.flush()
		os.exit(0)
	end
end
