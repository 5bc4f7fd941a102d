ks_test(test_oms SOURCES oms/test_oms.c LIBS kestrel_core)
ks_test(test_market SOURCES oms/test_market.c LIBS kestrel_core)
ks_test(test_paper SOURCES oms/test_paper.c LIBS kestrel_core)
