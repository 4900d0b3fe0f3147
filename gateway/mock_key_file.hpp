// The key sluice derives unknown users' mock SCRAM salts from (gateway/auth/scram_server.hpp),
// kept in the state directory so the salts survive restarts: with a key made per process,
// an unknown user's salt changes at every restart while a real user's stays the same, and
// anyone who can watch two exchanges across a restart could tell the two apart.
// PostgreSQL keeps its mock_auth_nonce in pg_control for the same reason.
#pragma once

#include <string>

#include "gateway/auth/crypto.hpp"

namespace sluice::gateway {

struct mock_key_file {
  auth::bytes key;       // empty: none could be read or made (see problem)
  std::string path;      // the file used, or that could not be used
  bool created = false;  // made now (first start with this state directory)
  std::string problem;   // why there is no key
};

// The state directory: systemd's $STATE_DIRECTORY (the first entry), else empty.
std::string state_directory_from_env();

// Reads DIR/scram-mock.key (32 bytes), or creates it (0600, random) when missing.
mock_key_file load_or_create_mock_key(const std::string& dir);

}  // namespace sluice::gateway
