# One static library per folder under src/, named gpucloud_<module>; its sources are globbed so
# that adding a file needs no CMake edit. Unit tests under tests/unit/<module>/*_test.cc become one
# binary per module, unit_<module>, labelled "unit".

set(GPUCLOUD_MODULE_TARGETS "" CACHE INTERNAL "")

function(gpucloud_warnings target)
  # GCC 12 gives false -Wmaybe-uninitialized warnings inside <regex> and <optional> when
  # optimising (GCC bug 105562): keep them visible, but not fatal.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-error=deprecated-declarations
                                           -Wno-error=maybe-uninitialized)
  # In a unity build each .cc is #included, so GCC takes a class of a .cc that holds a type from
  # that file's anonymous namespace (the pimpl pattern) for a header class doing so.
  if(CMAKE_UNITY_BUILD)
    target_compile_options(${target} PRIVATE -Wno-subobject-linkage)
  endif()
endfunction()

function(gpucloud_module name)
  cmake_parse_arguments(M "" "" "DEPS;LIBS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.cc)
  if(NOT sources)
    return()
  endif()
  add_library(gpucloud_${name} STATIC ${sources})
  target_include_directories(gpucloud_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  set(deps "")
  foreach(dep ${M_DEPS})
    if(TARGET gpucloud_${dep})
      list(APPEND deps gpucloud_${dep})
    endif()
  endforeach()
  target_link_libraries(gpucloud_${name} PUBLIC ${deps} Threads::Threads fmt::fmt spdlog::spdlog
                        PRIVATE ${M_LIBS})
  target_compile_definitions(gpucloud_${name} PRIVATE GPUCLOUD_PCI_IDS="/usr/share/misc/pci.ids")
  gpucloud_warnings(gpucloud_${name})
  set(GPUCLOUD_MODULE_TARGETS ${GPUCLOUD_MODULE_TARGETS} gpucloud_${name} CACHE INTERNAL "")
  set_property(GLOBAL APPEND PROPERTY GPUCLOUD_MODULES ${name})
  set_property(GLOBAL PROPERTY GPUCLOUD_MODULE_LIBS_${name} "${M_LIBS}")
endfunction()

function(gpucloud_unit_tests)
  get_property(modules GLOBAL PROPERTY GPUCLOUD_MODULES)
  # `unit_tests`: every unit test binary and what they run (the sanitizer build needs no more).
  add_custom_target(unit_tests)
  foreach(name ${modules})
    file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/${name}/*.cc)
    if(NOT tests)
      continue()
    endif()
    get_property(libs GLOBAL PROPERTY GPUCLOUD_MODULE_LIBS_${name})
    add_executable(unit_${name} ${tests})
    target_link_libraries(unit_${name} PRIVATE gpucloud_${name} ${libs} GTest::gtest GTest::gmock
                          GTest::gtest_main)
    target_include_directories(unit_${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
    gpucloud_test_target(unit_${name})
    add_dependencies(unit_${name} gpucloud)
    add_dependencies(unit_tests unit_${name})
    gpucloud_warnings(unit_${name})
    if(CMAKE_BUILD_TYPE STREQUAL "sanitize")
      # Under ASan a process costs about a second before its first test (loading, shadow
      # memory, the leak check at exit): one per test was most of that run. gtest's own shards,
      # a few processes per binary, run every test with the same checks; the normal build keeps
      # one process per test.
      foreach(shard RANGE 3)
        add_test(NAME ${name}.shard${shard} COMMAND unit_${name})
        set_tests_properties(${name}.shard${shard} PROPERTIES LABELS unit
                             ENVIRONMENT "GTEST_TOTAL_SHARDS=4;GTEST_SHARD_INDEX=${shard}")
      endforeach()
    else()
      gtest_discover_tests(unit_${name} DISCOVERY_MODE PRE_TEST PROPERTIES LABELS unit
                           TEST_PREFIX "${name}.")
    endif()
  endforeach()
endfunction()

# Test paths (tests/support/test_paths.h): every test target gets the header forced in and links
# the one object that knows the absolute paths.
function(gpucloud_test_support)
  add_library(gpucloud_test_paths STATIC ${CMAKE_SOURCE_DIR}/tests/support/test_paths.cc)
  target_include_directories(gpucloud_test_paths PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_compile_definitions(gpucloud_test_paths PRIVATE
    GPUCLOUD_TEST_DATA_PATH="${CMAKE_SOURCE_DIR}/tests/data"
    GPUCLOUD_BINARY_PATH="$<TARGET_FILE:gpucloud>"
    GPUCLOUD_CLAIM_WORKER_PATH="$<TARGET_FILE:store_claim_worker>")
endfunction()

function(gpucloud_test_target target)
  target_compile_options(${target} PRIVATE -include ${CMAKE_SOURCE_DIR}/tests/support/test_paths.h)
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(${target} PRIVATE gpucloud_test_paths)
endfunction()
