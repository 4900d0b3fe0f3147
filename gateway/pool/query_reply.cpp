#include "gateway/pool/query_reply.hpp"

namespace sluice::gateway::pool {

query_reply::status query_reply::fail(std::string why) {
  if (error_.empty())
    error_ = std::move(why);
  status_ = status::failed;
  buf_.clear();
  return status_;
}

query_reply::status query_reply::feed(pg::byte_span chunk) {
  if (status_ != status::need_more) {
    if (status_ == status::ok && !chunk.empty())
      return fail("the backend sent more after ReadyForQuery");
    return status_;
  }
  buf_.insert(buf_.end(), chunk.begin(), chunk.end());
  size_t off = 0;
  for (;;) {
    pg::message_view m;
    size_t used = 0;
    const auto st = pg::next_message(pg::byte_span(buf_).subspan(off), m, used, kMaxMessage);
    if (st == pg::frame_status::need_more)
      break;
    if (st == pg::frame_status::invalid)
      return fail("invalid message from the backend");
    off += used;
    switch (m.type) {
      case 'S': {
        std::string name, value;
        if (!parse_parameter_status(m.body, name, value))
          return fail("invalid ParameterStatus from the backend");
        set_param(params_, name, std::move(value));
        break;
      }
      case 'E':
        if (error_.empty()) {
          auto e = pg::parse_error(m.body);
          error_ = e ? e->code + " " + e->message : "invalid ErrorResponse";
        }
        break;
      case 'Z': {
        const char tx = m.body.size() == 1 ? static_cast<char>(m.body[0]) : '?';
        if (off != buf_.size())
          return fail("the backend sent more after ReadyForQuery");
        if (!error_.empty())
          return fail(error_);
        if (tx != 'I')
          return fail(std::string("the backend is not idle after the query (status ") + tx + ")");
        status_ = status::ok;
        buf_.clear();
        return status_;
      }
      case 'G':
      case 'H':
      case 'W':
        return fail("the query started COPY");
      default:  // RowDescription, DataRow, CommandComplete, NoticeResponse...
        break;
    }
  }
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(off));
  return status_;
}

}  // namespace sluice::gateway::pool
