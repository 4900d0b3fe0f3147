#include "gateway/session/login_steps.hpp"

namespace sluice::gateway {

namespace {

std::string auth_name(pg::byte_span body) {
  auto code = pg::auth_code(body);
  if (!code)
    return "Authentication(malformed)";
  switch (*code) {
    case 0:
      return "AuthenticationOk";
    case 2:
      return "AuthenticationKerberosV5";
    case 3:
      return "AuthenticationCleartextPassword";
    case 5:
      return "AuthenticationMD5Password";
    case 7:
      return "AuthenticationGSS";
    case 8:
      return "AuthenticationGSSContinue";
    case 9:
      return "AuthenticationSSPI";
    case 10:
      return "AuthenticationSASL";
    case 11:
      return "AuthenticationSASLContinue";
    case 12:
      return "AuthenticationSASLFinal";
    default:
      return "Authentication(code " + std::to_string(*code) + ")";
  }
}

}  // namespace

std::string login_step_name(char type, pg::byte_span body) {
  switch (type) {
    case 'R':
      return auth_name(body);
    case 'S':
      return "ParameterStatus";
    case 'K':
      return "BackendKeyData";
    case 'Z':
      return "ReadyForQuery";
    case 'E':
      return "ErrorResponse";
    case 'N':
      return "NoticeResponse";
    case 'v':
      return "NegotiateProtocolVersion";
    default: {
      const bool printable = type >= 0x21 && type <= 0x7e;
      return printable ? std::string("message '") + type + "'"
                       : "message 0x" + std::string(1, "0123456789abcdef"[(type >> 4) & 0xf]) +
                             std::string(1, "0123456789abcdef"[type & 0xf]);
    }
  }
}

}  // namespace sluice::gateway
