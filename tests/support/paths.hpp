// Where the built binary and the source tree are, baked in by CMake.
#pragma once

namespace sluice::test {
inline constexpr const char* kSluiceBin = SLUICE_BIN;
inline constexpr const char* kSourceDir = SLUICE_SOURCE_DIR;
inline constexpr const char* kBuildDir = SLUICE_BUILD_DIR;
}  // namespace sluice::test
