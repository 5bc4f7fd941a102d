# Event loop, HTTP client (libcurl multi) and WebSockets/HTTP server (libwebsockets).
ks_test(test_loop SOURCES net/test_loop.c LIBS kestrel_core TIMEOUT 60 LABELS net)
ks_test(test_http SOURCES net/test_http.c LIBS kestrel_core TIMEOUT 60 LABELS net)
ks_test(test_ws SOURCES net/test_ws.c LIBS kestrel_core TIMEOUT 60 LABELS net)
