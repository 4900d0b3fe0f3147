// What a pooled session's relay must know to hand its backend on when the client leaves,
// read from the blind byte streams without buffering them: on the backend's side the
// ReadyForQuery status, COPY, ParameterStatus changes and how many ReadyForQuery came;
// on the client's side how many messages that each earn one ReadyForQuery (Query, Sync,
// FunctionCall) it sent, and where its Terminate starts (sluice keeps that backend, so
// the Terminate must not reach it). Pure; fed with whatever chunks the sockets return.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "gateway/frame_header.hpp"
#include "gateway/pg_wire.hpp"
#include "gateway/pool/backend_close.hpp"
#include "gateway/pool/params.hpp"

namespace sluice::gateway::pool {

class backend_watch {
 public:
  static constexpr size_t kMaxKept = 64 * 1024;  // a larger 'S' or 'Z' is not followed

  void feed(pg::byte_span chunk);
  // A reused backend: the ParameterStatus set its client was shown, and the idle
  // ReadyForQuery sluice gave it for the backend.
  void seed(param_list p) {
    params_ = std::move(p);
    ready_ = 'I';
  }
  bool at_boundary() const { return header_.have == 0 && remaining_ == 0; }
  bool broken() const { return broken_; }
  char ready_status() const { return ready_; }  // 'I', 'T', 'E'; 0 before any
  uint64_t ready_count() const { return readies_; }
  bool in_copy() const { return copy_; }
  bool copy_both() const { return copy_both_; }
  const param_list& params() const { return params_; }

 private:
  void on_message(char type, const pg::bytes& body);

  frame_header header_;
  uint64_t remaining_ = 0;
  char type_ = 0;
  bool keep_ = false;  // the body of this message is collected
  pg::bytes body_;
  bool broken_ = false;
  char ready_ = 0;
  uint64_t readies_ = 0;
  bool copy_ = false;
  bool copy_both_ = false;
  param_list params_;
};

class client_watch {
 public:
  // Follows `chunk`; returns how many of its bytes come before a Terminate ('X') that
  // starts at a message boundary (chunk.size() when there is none). Bytes from the
  // Terminate on are not followed.
  size_t feed(pg::byte_span chunk);
  bool terminated() const { return terminated_; }
  bool at_boundary() const { return header_.have == 0 && remaining_ == 0; }
  uint64_t sync_points() const { return syncs_; }

 private:
  frame_header header_;
  uint64_t remaining_ = 0;
  bool terminated_ = false;
  uint64_t syncs_ = 0;
};

// The facts at the end of a pooled session.
struct release_facts {
  bool client_left_cleanly = false;  // Terminate or EOF, at a message boundary
  const backend_watch* backend = nullptr;
  const client_watch* client = nullptr;
  // ReadyForQuery the client never asked for (1: the login's, for a new backend).
  uint64_t readies_before_relay = 0;
};

// nullopt: the backend may be reset and kept; otherwise why it is closed.
std::optional<backend_close> why_not_keep(const release_facts& f);

}  // namespace sluice::gateway::pool
