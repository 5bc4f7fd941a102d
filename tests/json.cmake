# The SDK's JSON reader (kestrel/json.h): the config reader of the shipped risk plugins and
# the sim venue, and the parser of recorded JSON data in replays.
ks_test(test_json SOURCES unit/test_json.c LIBS Kestrel::sdk LABELS risk replay)
