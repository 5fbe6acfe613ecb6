-- POST /token grant_type=client_credentials with client_secret_basic.
-- A static request: wrk formats it once per connection, so the load generator stays cheap.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. assert(os.getenv("BENCH_SERVICE_BASIC"))
