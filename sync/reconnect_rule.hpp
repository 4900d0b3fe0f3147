// What a reload does to a running writer: keep its connection, or drop it and connect
// again. Connecting is what reaches the destination, takes the advisory lock, runs
// setup (schema, grants to the read role) and a pending schema move, so only a change
// to one of those needs a new connection. Everything else (events, deletes, the queue
// depth, tokens) a batch reads from the settings when it is applied.
#pragma once

#include <string>

#include "config/settings.hpp"

namespace sluice::sync {

// Where the writer is when the reload arrives.
struct writer_phase {
  bool connected = false;   // holds the lock, set up, applying batches
  bool connecting = false;  // connecting, waiting for the lock, or running setup
  bool stopped = false;     // a non-retryable error stopped the sync
  // The last setup could not grant the read role to every grant_to user (say one did
  // not exist yet): a reload reconnects so setup grants again.
  bool read_role_problems = false;
};

// "" to keep the connection (or keep connecting); otherwise why the writer reconnects:
// the destination, its route or its tunnel's bastion, the schema or the read role
// changed; or the sync was stopped (a reload retries it on a fresh connection, with the
// catalog read again); or the writer has no connection and waits out a backoff (it
// retries at once: the reload may have fixed what failed); or the last setup reported
// read-role grants it could not make (setup tries them again). A new password in the same
// password_file applies at the next connection and reconnects nothing.
std::string reconnect_reason(const config::settings& before_settings, const config::sync& before,
                             const config::settings& after_settings, const config::sync& after,
                             const writer_phase& now);

}  // namespace sluice::sync
