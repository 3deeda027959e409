-- wrk script: POST the file named by PE_BENCH_BODY with PE_BENCH_TYPE.
local f = assert(io.open(os.getenv("PE_BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("PE_BENCH_TYPE")
