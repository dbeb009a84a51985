-- wrk: POST a 512-byte JSON body, like one benchmark record.
wrk.method = "POST"
wrk.body = '{"n":0,"p":"' .. string.rep("x", 497) .. '"}'
wrk.headers["Content-Type"] = "application/json"
