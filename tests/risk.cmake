# Risk modules (plugins/risk_*). Each test dlopen()s the built plugin from
# <build>/plugins (KS_BUILD_DIR) and drives its descriptor's ops through a fake host and a
# fake portfolio (risk/fake.c); none links the host core. json_min is tested directly.
ks_test(test_risk_json_min SOURCES risk/test_json_min.c ${PROJECT_SOURCE_DIR}/plugins/common/json_min.c
        LIBS Kestrel::sdk LABELS risk)
target_include_directories(test_risk_json_min PRIVATE ${PROJECT_SOURCE_DIR}/plugins/common)

foreach(ks_risk_mod limits gates drawdown margin)
  ks_test(test_risk_${ks_risk_mod} SOURCES risk/test_risk_${ks_risk_mod}.c risk/fake.c
          LIBS Kestrel::sdk ${CMAKE_DL_LIBS} LABELS risk)
  add_dependencies(test_risk_${ks_risk_mod} risk_${ks_risk_mod})
endforeach()
