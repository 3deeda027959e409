-- wrk script: every request from another of 100,000 users (X-User), so
-- that a limit keyed by user meets a different key almost every time.
math.randomseed(os.time())
request = function()
    return wrk.format(nil, nil, { ["X-User"] = "user" .. math.random(100000) })
end
