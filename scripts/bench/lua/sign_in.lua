-- The sign-in storm: every request posts the right password to the JSON API.
wrk.method = "POST"
wrk.body = '{"email":"bench@bench.example","password":"correct horse battery"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Requested-With"] = "wrk"
