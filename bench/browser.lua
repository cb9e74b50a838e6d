-- wrk script: requests with the headers a browser sends (~450 bytes of head instead of wrk's
-- bare Host), to measure the head parser on realistic input:
--   wrk -t1 -c50 -d4s -s bench/browser.lua http://127.0.0.1:PORT/
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
wrk.headers["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
wrk.headers["Accept-Language"] = "en-US,en;q=0.9"
wrk.headers["Accept-Encoding"] = "gzip, deflate, br"
wrk.headers["Cookie"] = "session=abcdef0123456789abcdef0123456789; theme=dark; _ga=GA1.1.123456789.1700000000"
wrk.headers["Sec-Fetch-Mode"] = "navigate"
wrk.headers["Cache-Control"] = "max-age=0"
