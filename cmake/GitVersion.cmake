# Run at build time (not configure time) so the version in run.json follows the checkout: writes OUT from
# IN with NEMOKD_GIT_DESCRIBE = `git describe --always --dirty --tags`. configure_file only touches OUT when
# its content changes, so an unchanged version rebuilds nothing.
execute_process(COMMAND git describe --always --dirty --tags WORKING_DIRECTORY "${SOURCE_DIR}"
                OUTPUT_VARIABLE NEMOKD_GIT_DESCRIBE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT NEMOKD_GIT_DESCRIBE)
  set(NEMOKD_GIT_DESCRIBE "unknown")
endif()
configure_file("${IN}" "${OUT}" @ONLY)
