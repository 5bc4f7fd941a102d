# Backtest reports: the files are deterministic and self-contained, and the page renders
# its four charts in headless Chromium (which CI installs; locally a missing Chromium is a
# skip unless CI is set).
find_package(ZLIB REQUIRED)
add_executable(report_png_check report/png_check.c)
target_link_libraries(report_png_check PRIVATE ZLIB::ZLIB)
ks_script_test(test_report_files report/files.sh)
set_tests_properties(test_report_files PROPERTIES LABELS report)
ks_script_test(test_report_browser report/browser.sh $<TARGET_FILE:report_png_check>)
set_tests_properties(test_report_browser PROPERTIES SKIP_RETURN_CODE 77 LABELS "report;browser")
