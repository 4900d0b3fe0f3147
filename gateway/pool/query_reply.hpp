// The backend's answer to a simple Query sluice sends itself on a pooled connection (the
// reset SQL, the next client's set_config): ParameterStatus changes are kept for the
// next client, an ErrorResponse or anything but ReadyForQuery 'I' at the end is a
// failure, and bytes past that ReadyForQuery mean the backend is not where sluice
// thinks it is. Pure; fed with whatever chunks the socket returns.
#pragma once

#include <string>

#include "gateway/pg_wire.hpp"
#include "gateway/pool/params.hpp"

namespace sluice::gateway::pool {

class query_reply {
 public:
  enum class status { need_more, ok, failed };
  static constexpr size_t kMaxMessage = 1 << 20;

  status feed(pg::byte_span chunk);
  // failed: why, for the log (the backend's SQLSTATE and message, or what was wrong).
  const std::string& error() const { return error_; }
  // ParameterStatus values the reply carried.
  const param_list& params() const { return params_; }

 private:
  status fail(std::string why);

  pg::bytes buf_;
  status status_ = status::need_more;
  std::string error_;
  param_list params_;
};

}  // namespace sluice::gateway::pool
