ks_test(test_decimal SOURCES unit/test_decimal.c LIBS Kestrel::sdk kestrel_core)
