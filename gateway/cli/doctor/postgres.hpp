// PostgreSQL-specific probes: the SSLRequest answer, the TLS handshake with the
// route's verification settings, and a libpq login whose failure is explained.
#pragma once

#include <map>
#include <string>

#include "config/settings.hpp"
#include "gateway/cli/doctor/report.hpp"

namespace sluice::doctor {

// Sends SSLRequest on a connected socket; returns 'S', 'N', 'E', or 0 on I/O error
// (`error` says what happened).
char ssl_request(int fd, int timeout_ms, std::string& error);

// Runs a TLS handshake on `fd` (after an 'S' answer) with the data plane's client
// context for `tls` (tls::client_context): with verify-ca/verify-full the chain is
// checked against tls.ca (system roots when empty), with verify-full also `host`.
// Records a TLS stage in `out`; returns its ok flag.
bool tls_handshake(int fd, const std::string& host, const config::upstream_tls& tls, report& out);

// Logs in with libpq (`params` are PQconnectdbParams keywords) and records the
// authentication stage. On success `conn_out` (if given) receives nothing; the
// connection is closed. `where` names the setting to change (e.g. "route orders").
bool authenticate(const std::map<std::string, std::string>& params, const std::string& where,
                  report& out);

// The cause and fix for a libpq connection error message; empty cause when unknown.
std::pair<std::string, std::string> explain_login_error(const std::string& message,
                                                        const std::string& where,
                                                        const std::string& sslmode);

}  // namespace sluice::doctor
