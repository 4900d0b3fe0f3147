// Names the backend's messages of the login phase for the debug log
// (upstream_login_step step=AuthenticationSASL ...): what an operator compares with
// pg_hba.conf when a login is slow or refused. Pure; never includes message contents.
#pragma once

#include <string>

#include "gateway/pg_wire.hpp"

namespace sluice::gateway {

// "AuthenticationOk", "AuthenticationSASL", "ParameterStatus", "ReadyForQuery", ...;
// an unknown type gives "message 'X'" and an unknown auth code "Authentication(code N)".
std::string login_step_name(char type, pg::byte_span body);

}  // namespace sluice::gateway
