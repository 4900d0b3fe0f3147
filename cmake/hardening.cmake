# Hardening for every sluice binary (on by default): stack protector, _FORTIFY_SOURCE=2,
# full RELRO and PIE, plus stack clash and control-flow protection. `hardening-check
# build/gateway/sluice` verifies them; tests/integration/ops/hardening_test.cpp does in CTest.
option(SLUICE_HARDEN "Build with stack protector, _FORTIFY_SOURCE=2, full RELRO and PIE" ON)
if(SLUICE_HARDEN)
  # Stack clash and CET (control-flow) protection, as Debian's dpkg-buildflags on amd64.
  add_compile_options(-fstack-protector-strong -fstack-clash-protection)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    add_compile_options(-fcf-protection)
  endif()
  # _FORTIFY_SOURCE needs optimisation (not Debug's -O0), and ASan checks the same calls
  # better without it (the fortified variants bypass its interceptors).
  if(NOT SLUICE_SANITIZE)
    add_compile_options($<$<NOT:$<CONFIG:Debug>>:-U_FORTIFY_SOURCE>
                        $<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=2>)
  endif()
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  include(CheckPIESupported)
  check_pie_supported()
  add_link_options(-Wl,-z,relro,-z,now)
endif()
