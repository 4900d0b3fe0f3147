// The error an authentication step ends with: PostgreSQL's SQLSTATE, primary message and
// detail, worded as PostgreSQL words them so clients and operators see familiar text.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace sluice::auth {

struct auth_error {
  std::string sqlstate;  // e.g. "28P01", "08P01"
  std::string message;
  std::string detail;  // may be empty

  bool operator==(const auth_error&) const = default;
  // "28P01 password authentication failed for user "x"" [+ " (detail)"], for logs.
  std::string describe() const {
    return sqlstate + " " + message + (detail.empty() ? "" : " (" + detail + ")");
  }
};

namespace sqlstate {
inline constexpr const char* kProtocolViolation = "08P01";
inline constexpr const char* kInvalidPassword = "28P01";
inline constexpr const char* kInvalidAuthorization = "28000";
inline constexpr const char* kFeatureNotSupported = "0A000";
inline constexpr const char* kInternal = "XX000";
}  // namespace sqlstate

// "malformed SCRAM message" with a detail, PostgreSQL's usual protocol error.
inline auth_error malformed(std::string detail) {
  return {sqlstate::kProtocolViolation, "malformed SCRAM message", std::move(detail)};
}

// The one error a wrong password, an unknown user and a mock exchange all end with.
inline auth_error password_failed(const std::string& user) {
  return {sqlstate::kInvalidPassword, "password authentication failed for user \"" + user + "\"",
          ""};
}

// A value or the error that prevented it.
template <class T>
class outcome {
 public:
  outcome(T value) : value_(std::move(value)) {}
  outcome(auth_error error) : error_(std::move(error)) {}

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T* operator->() const { return &*value_; }
  const auth_error& error() const { return error_; }

 private:
  std::optional<T> value_;
  auth_error error_;
};

}  // namespace sluice::auth
