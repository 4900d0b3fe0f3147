#include <catch2/catch.hpp>

#include "gateway/session/login_steps.hpp"

using namespace sluice;
using gateway::login_step_name;

namespace {
pg::bytes code(uint32_t c) {
  pg::bytes b;
  pg::put_u32(b, c);
  return b;
}
}  // namespace

TEST_CASE("login steps are named as in the protocol documentation", "[session][log]") {
  const std::vector<std::pair<uint32_t, std::string>> auth = {
      {0, "AuthenticationOk"},
      {3, "AuthenticationCleartextPassword"},
      {5, "AuthenticationMD5Password"},
      {10, "AuthenticationSASL"},
      {11, "AuthenticationSASLContinue"},
      {12, "AuthenticationSASLFinal"},
      {99, "Authentication(code 99)"}};
  for (const auto& [c, name] : auth)
    CHECK(login_step_name('R', code(c)) == name);
  CHECK(login_step_name('R', {}) == "Authentication(malformed)");
  CHECK(login_step_name('K', {}) == "BackendKeyData");
  CHECK(login_step_name('Z', {}) == "ReadyForQuery");
  CHECK(login_step_name('E', {}) == "ErrorResponse");
  CHECK(login_step_name('v', {}) == "NegotiateProtocolVersion");
  CHECK(login_step_name('S', {}) == "ParameterStatus");
  // Unknown types are named without putting raw bytes in the log.
  CHECK(login_step_name('x', {}) == "message 'x'");
  CHECK(login_step_name('\n', {}) == "message 0x0a");
  CHECK(login_step_name(static_cast<char>(0xff), {}) == "message 0xff");
}
