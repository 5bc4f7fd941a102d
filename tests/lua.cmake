# Strategy runtime: `kestrel test` over the sample strategies (must pass) and over a file
# of deliberately failing tests (must report them and exit non-zero); the hostile-script
# suite and the sandbox acceptance test through the real host; the doc coverage test
# (sdk/lua/kestrel.lua vs what the runtime registers and dispatches).
add_test(NAME lua_harness_strategies
         COMMAND $<TARGET_FILE:kestrel> test ${CMAKE_CURRENT_SOURCE_DIR}/lua/strategies
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(lua_harness_strategies PROPERTIES ENVIRONMENT "${KS_TEST_ENV}" TIMEOUT 120
                     LABELS lua)
ks_script_test(lua_harness_failures lua/harness_failures.sh)
set_tests_properties(lua_harness_failures PROPERTIES LABELS lua TIMEOUT 120)

add_library(ks_lua_run STATIC lua/lua_run.c)
target_link_libraries(ks_lua_run PUBLIC kestrel_core)
target_include_directories(ks_lua_run PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/lua)
target_compile_definitions(ks_lua_run PRIVATE KS_TEST_BUILD_DIR="${CMAKE_BINARY_DIR}")

# Each needs the sim venue plugin in <build>/plugins.
foreach(ks_lua_t hostile lua_sandbox lua_doc)
  if(ks_lua_t STREQUAL "hostile")
    set(ks_lua_name test_lua_hostile)
  else()
    set(ks_lua_name test_${ks_lua_t})
  endif()
  ks_test(${ks_lua_name} SOURCES lua/test_${ks_lua_t}.c LIBS ks_lua_run TIMEOUT 300 LABELS lua)
  add_dependencies(${ks_lua_name} sim kestrel)
endforeach()
