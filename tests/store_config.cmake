# The SQLite store and the JSON config loader.
ks_test(test_store SOURCES store/test_store.c LIBS kestrel_core)
ks_test(test_config SOURCES config/test_config.c LIBS kestrel_core)
