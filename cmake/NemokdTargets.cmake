# Helpers that keep every nemokd target on the same flags, so one precompiled torch header serves them all.

# The precompiled header is built once, in this object library, and reused by every target that includes
# torch (a translation unit that parses torch/torch.h from scratch costs ~16 s here).
add_library(nemokd_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch.cpp)
target_link_libraries(nemokd_pch PUBLIC torch)
target_precompile_headers(nemokd_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/torch_pch.h)
set_target_properties(nemokd_pch PROPERTIES POSITION_INDEPENDENT_CODE OFF)

function(nemokd_common_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>)
  target_link_libraries(${target} PUBLIC torch)
  target_precompile_headers(${target} REUSE_FROM nemokd_pch)
endfunction()

# nemokd_add_area(NAME SOURCES ... DEPENDS ...): one static library per concern, src/<area>/.
function(nemokd_add_area name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(nemokd_${name} STATIC ${ARG_SOURCES})
  add_library(nemokd::${name} ALIAS nemokd_${name})
  nemokd_common_options(nemokd_${name})
  target_link_libraries(nemokd_${name} PUBLIC ${ARG_DEPENDS})
endfunction()

# nemokd_add_plain_area(NAME SOURCES ... DEPENDS ...): a library that must not see torch (the integer engine's
# runtime and file format: small, fast to compile, and fuzzable with clang without LibTorch). It may include
# header-only parts of core (core/error.h) but links no torch and uses no PCH.
function(nemokd_add_plain_area name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(nemokd_${name} STATIC ${ARG_SOURCES})
  add_library(nemokd::${name} ALIAS nemokd_${name})
  target_compile_options(nemokd_${name} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  target_include_directories(nemokd_${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>)
  target_link_libraries(nemokd_${name} PUBLIC ${ARG_DEPENDS})
endfunction()
