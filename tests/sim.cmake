# The built-in sim venue: core (matching, accounts, funding), market generator, config
# reader, and the plugin itself loaded with dlopen against a fake host.
ks_test(test_sim_core SOURCES sim/test_sim_core.c LIBS sim_core Kestrel::sdk)
ks_test(test_sim_market
        SOURCES sim/test_sim_market.c ${PROJECT_SOURCE_DIR}/exchanges/sim/sim_config.c
        LIBS sim_market sim_core Kestrel::sdk m)
ks_test(test_sim_config
        SOURCES sim/test_sim_config.c ${PROJECT_SOURCE_DIR}/exchanges/sim/sim_config.c
        LIBS sim_core Kestrel::sdk m)
ks_test(test_sim_plugin SOURCES sim/test_sim_plugin.c sim/fake_host.c
        LIBS Kestrel::sdk ${CMAKE_DL_LIBS})
add_dependencies(test_sim_plugin sim)
