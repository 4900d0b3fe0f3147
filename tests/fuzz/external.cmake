# Included from tests/CMakeLists.txt: builds tests/fuzz with clang as an ExternalProject
# (the main build is g++) and registers "fuzz: <target>" CTest tests, each running its
# regression inputs once and fuzzing SLUICE_FUZZ_SECONDS from its seed corpus.
option(SLUICE_FUZZ "Build the libFuzzer targets (needs clang++ and libclang-rt) and test them" ON)
set(SLUICE_FUZZ_SECONDS 10 CACHE STRING "Seconds each fuzz target runs in CTest")
if(NOT SLUICE_FUZZ)
  return()
endif()

find_program(SLUICE_FUZZ_CXX NAMES clang++-14 clang++)
if(SLUICE_FUZZ_CXX AND NOT DEFINED SLUICE_FUZZ_WORKS)
  # The fuzzer runtime is a separate package (libclang-rt-14-dev): try it once.
  set(probe ${CMAKE_BINARY_DIR}/CMakeFiles/fuzz_probe)
  file(WRITE ${probe}.cpp
       "#include <cstdint>\n#include <cstddef>\n"
       "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
  execute_process(COMMAND ${SLUICE_FUZZ_CXX} -fsanitize=fuzzer,address,undefined ${probe}.cpp
                  -o ${probe} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    set(SLUICE_FUZZ_WORKS TRUE CACHE INTERNAL "")
  else()
    set(SLUICE_FUZZ_WORKS FALSE CACHE INTERNAL "")
  endif()
endif()
if(NOT SLUICE_FUZZ_CXX OR NOT SLUICE_FUZZ_WORKS)
  message(WARNING "SLUICE_FUZZ: clang++ with libFuzzer not found (scripts/install-deps.sh "
                  "installs clang-14 and libclang-rt-14-dev); the fuzz targets are not built")
  return()
endif()

include(ExternalProject)
include(${CMAKE_CURRENT_LIST_DIR}/targets.cmake)
set(fuzz_bin ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
set(fuzz_outputs)
foreach(t IN LISTS SLUICE_FUZZ_TARGETS)
  list(APPEND fuzz_outputs ${fuzz_bin}/fuzz_${t})
endforeach()
ExternalProject_Add(sluice_fuzz
  SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}
  BINARY_DIR ${fuzz_bin}
  CMAKE_ARGS -DCMAKE_CXX_COMPILER=${SLUICE_FUZZ_CXX}
  BUILD_ALWAYS ON  # sources live outside its folder: let its own make decide
  BUILD_BYPRODUCTS ${fuzz_outputs}
  INSTALL_COMMAND "")
foreach(t IN LISTS SLUICE_FUZZ_TARGETS)
  add_test(NAME "fuzz: ${t}"
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/check ${fuzz_bin}/fuzz_${t} ${t} ${SLUICE_FUZZ_SECONDS})
  math(EXPR limit "${SLUICE_FUZZ_SECONDS} + 120")
  set_tests_properties("fuzz: ${t}" PROPERTIES LABELS fuzz TIMEOUT ${limit})
endforeach()
