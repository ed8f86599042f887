-- wrk script: POST the NDJSON batch in $IC_BATCH to /api/logs again and again, counting the
-- answers by status. With IC_INGEST_TOKEN set, sends it as a bearer token.
local file = assert(io.open(os.getenv("IC_BATCH"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/x-ndjson"
local token = os.getenv("IC_INGEST_TOKEN")
if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    accepted, full, other = 0, 0, 0
end

function response(status, headers, body)
    if status == 202 then
        accepted = accepted + 1
    elseif status == 429 then
        full = full + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local a, f, o = 0, 0, 0
    for _, thread in ipairs(threads) do
        a = a + thread:get("accepted")
        f = f + thread:get("full")
        o = o + thread:get("other")
    end
    io.write(string.format("answers: 202=%d 429=%d other=%d\n", a, f, o))
end
