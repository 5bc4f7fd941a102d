# Risk modules (plugins/risk_*). Each test dlopen()s the built plugin from
# <build>/plugins (KS_BUILD_DIR) and drives its descriptor's ops through a fake host and a
# fake portfolio (risk/fake.c); none links the host core. Their config reader, the SDK's
# kestrel/json.h, is tested in tests/json.cmake.

foreach(ks_risk_mod limits gates drawdown margin)
  ks_test(test_risk_${ks_risk_mod} SOURCES risk/test_risk_${ks_risk_mod}.c risk/fake.c
          LIBS Kestrel::sdk ${CMAKE_DL_LIBS} LABELS risk)
  add_dependencies(test_risk_${ks_risk_mod} risk_${ks_risk_mod})
endforeach()
