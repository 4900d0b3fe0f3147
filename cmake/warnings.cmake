# Warnings for every sluice target (the brief: -Wall -Wextra on).
add_compile_options(-Wall -Wextra -Wpedantic)
option(SLUICE_WERROR "Treat warnings as errors" OFF)
if(SLUICE_WERROR)
  add_compile_options(-Werror)
endif()
# GCC 12 misreads Asio 1.18's recycled coroutine-frame allocator as a new/delete mismatch.
add_compile_options(-Wno-mismatched-new-delete)
