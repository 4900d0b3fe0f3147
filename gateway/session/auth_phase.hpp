// The authentication phase as pure logic: backend bytes in, what the client gets out,
// until ReadyForQuery. It offers plain SCRAM only (the client's TLS, if any, ended at
// sluice, so a SCRAM-SHA-256-PLUS binding would name sluice's certificate and the
// backend would refuse it), gives the client a cancel key minted here in place of the
// backend's, and adds hints to the backend errors a gateway setting causes. Fed with
// whatever chunks the socket returns, byte by byte if need be.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/pg_wire.hpp"

namespace sluice::gateway {

// The hints, shared with `sluice doctor` so both say the same.
std::string hint_upstream_refuses_plaintext(std::string_view route);
std::string hint_channel_binding_impossible();

// A backend ErrorResponse body with a hint saying what to change, re-encoded as a whole
// 'E' message; empty when the error is passed on as it is.
pg::bytes explain_backend_error(pg::byte_span body, bool upstream_tls, std::string_view route);

enum class auth_status { need_more, ready, invalid };

struct auth_output {
  auth_status status = auth_status::need_more;
  pg::bytes to_client;     // in order; may hold bytes past ReadyForQuery once ready
  size_t after_ready = 0;  // how many of the last bytes of to_client follow ReadyForQuery
  // The backend refused the login: its ErrorResponse, for the log (auth_failed).
  std::optional<pg::error_fields> backend_error;
  // The backend's messages consumed by this call, named (login_steps.hpp), for the debug
  // log; ParameterStatus messages are left out (a dozen per login, nothing to act on).
  std::vector<std::string> steps;
};

class auth_phase {
 public:
  // Given the backend's key, returns the one to hand the client; unset: pass it as is.
  using mint_fn = std::function<pg::backend_key_data(const pg::backend_key_data&)>;
  static constexpr size_t kMaxMessage = 1 << 20;  // an auth-phase message larger is bogus

  auth_phase(bool upstream_tls, std::string route, mint_fn mint = {});

  // Consumes `in`; after `ready` or `invalid`, further calls return the same status and
  // nothing more.
  auth_output feed(pg::byte_span in);
  // The key given to the client (to forget when the session ends), once one was minted.
  const std::optional<pg::backend_key_data>& minted() const { return minted_; }

 private:
  bool upstream_tls_;
  std::string route_;
  mint_fn mint_;
  pg::bytes pending_;  // a message not yet complete
  auth_status status_ = auth_status::need_more;
  std::optional<pg::backend_key_data> minted_;
};

}  // namespace sluice::gateway
