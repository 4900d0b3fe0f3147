// Catch2 prints an auth_error as its describe() text in failed CHECKs.
#pragma once

#include <catch2/catch.hpp>

#include "gateway/auth/auth_error.hpp"

namespace Catch {
template <>
struct StringMaker<sluice::auth::auth_error> {
  static std::string convert(const sluice::auth::auth_error& e) { return e.describe(); }
};
}  // namespace Catch
