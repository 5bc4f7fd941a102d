# Plugin loader tests. Fixture plugins are MODULEs in <build>/tests/plugin-fixtures (never
# the host's plugins directory), each breaking one rule; test_plugin asserts the loader's
# exact messages; plugin_out_of_tree installs the SDK and builds examples/exchange-plugin
# against it alone, through CMake and through pkg-config.
set(KS_FIXTURE_DIR ${CMAKE_CURRENT_BINARY_DIR}/plugin-fixtures)
set(ks_plugin_fixtures)

# ks_plugin_fixture(<file name> <source> [compile definitions...]) -> <file name>.so
function(ks_plugin_fixture name source)
  set(target plugin_fixture_${name})
  add_library(${target} MODULE ${source})
  target_link_libraries(${target} PRIVATE Kestrel::sdk)
  target_compile_definitions(${target} PRIVATE ${ARGN})
  set_target_properties(${target} PROPERTIES PREFIX "" OUTPUT_NAME ${name}
                        LIBRARY_OUTPUT_DIRECTORY ${KS_FIXTURE_DIR})
  set(ks_plugin_fixtures ${ks_plugin_fixtures} ${target} PARENT_SCOPE)
endfunction()

set(fx ${CMAKE_CURRENT_SOURCE_DIR}/plugin/fixture.c)
ks_plugin_fixture(good ${fx})
ks_plugin_fixture(limits ${fx} FIX_RISK FIX_NAME="limits")
ks_plugin_fixture(newer_minor ${fx} FIX_NEWER_MINOR FIX_NAME="newer"
                  "FIX_ABI_MINOR=(KS_ABI_MINOR + 3)")
ks_plugin_fixture(abi_v2 ${CMAKE_CURRENT_SOURCE_DIR}/plugin/abi_v2.c)
ks_plugin_fixture(no_entry ${CMAKE_CURRENT_SOURCE_DIR}/plugin/no_entry.c)
ks_plugin_fixture(major_mismatch ${fx} FIX_ABI_MAJOR=2)
ks_plugin_fixture(bad_name ${fx} FIX_NAME="Bad-Name")
ks_plugin_fixture(long_name ${fx} FIX_NAME="abcdefghijklmnopqrstuvwxyz0123456")
ks_plugin_fixture(null_op ${fx} FIX_NULL_PLACE FIX_NAME="null_op")
ks_plugin_fixture(cap_no_amend ${fx} FIX_NO_AMEND FIX_NAME="cap_no_amend")
ks_plugin_fixture(bad_kind ${fx} FIX_KIND=9)
ks_plugin_fixture(small_ops ${fx} FIX_OPS_SIZE=16 FIX_NAME="small_ops")
ks_plugin_fixture(dup_a ${fx} FIX_NAME="dup")
ks_plugin_fixture(dup_b ${fx} FIX_NAME="dup")
# The example plugin, built here too so test_plugin can drive it through a fake host.
ks_plugin_fixture(myvenue ${PROJECT_SOURCE_DIR}/examples/exchange-plugin/myvenue.c)

ks_test(test_plugin SOURCES plugin/test_plugin.c LIBS kestrel_core)
target_compile_definitions(test_plugin PRIVATE KS_FIXTURE_DIR="${KS_FIXTURE_DIR}")
add_dependencies(test_plugin ${ks_plugin_fixtures})

# The fallback loader of plugin_out_of_tree: `plugin_info FILE`, like `kestrel plugin info`.
add_executable(plugin_info_tool plugin/plugin_info.c)
target_link_libraries(plugin_info_tool PRIVATE kestrel_core)
add_dependencies(plugin_info_tool kestrel_sdk plugin_fixture_good)

ks_script_test(plugin_out_of_tree plugin/out_of_tree.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR}
               ${KS_FIXTURE_DIR}/good.so $<TARGET_FILE:plugin_info_tool> ${CMAKE_COMMAND}
               ${CMAKE_C_COMPILER})
