-- GET /userinfo with a user's bearer access token (openid profile email).
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_USER_ACCESS_TOKEN"))
