#include "gateway/pool/session_watch.hpp"

namespace sluice::gateway::pool {

void backend_watch::feed(pg::byte_span chunk) {
  size_t i = 0;
  while (i < chunk.size() && !broken_) {
    if (remaining_ > 0) {
      const size_t take = std::min<size_t>(remaining_, chunk.size() - i);
      if (keep_)
        body_.insert(body_.end(), chunk.begin() + static_cast<std::ptrdiff_t>(i),
                     chunk.begin() + static_cast<std::ptrdiff_t>(i + take));
      remaining_ -= take;
      i += take;
      if (remaining_ == 0 && keep_)
        on_message(type_, body_);
      continue;
    }
    if (!header_.push(chunk[i++]))
      continue;
    const uint32_t len = header_.length();
    if (len < 4) {
      broken_ = true;
      return;
    }
    type_ = header_.type();
    remaining_ = len - 4;
    keep_ = (type_ == 'S' || type_ == 'Z');
    if (keep_ && remaining_ > kMaxKept) {
      broken_ = true;
      return;
    }
    body_.clear();
    if (type_ == 'G' || type_ == 'H')
      copy_ = true;
    if (type_ == 'W')
      copy_both_ = true;
    if (remaining_ == 0 && keep_)
      on_message(type_, body_);
  }
}

void backend_watch::on_message(char type, const pg::bytes& body) {
  if (type == 'Z') {
    if (body.size() != 1) {
      broken_ = true;
      return;
    }
    ready_ = static_cast<char>(body[0]);
    ++readies_;
    copy_ = false;
    return;
  }
  std::string name, value;
  if (!parse_parameter_status(body, name, value)) {
    broken_ = true;
    return;
  }
  set_param(params_, name, std::move(value));
}

size_t client_watch::feed(pg::byte_span chunk) {
  if (terminated_)
    return 0;
  size_t i = 0;
  while (i < chunk.size()) {
    if (remaining_ > 0) {
      const size_t take = std::min<size_t>(remaining_, chunk.size() - i);
      remaining_ -= take;
      i += take;
      continue;
    }
    if (header_.have == 0 && chunk[i] == 'X') {
      terminated_ = true;
      return i;
    }
    if (!header_.push(chunk[i++]))
      continue;
    const uint32_t len = header_.length();
    remaining_ = len >= 4 ? len - 4 : 0;
    const char t = header_.type();
    if (t == 'Q' || t == 'S' || t == 'F')
      ++syncs_;
  }
  return chunk.size();
}

std::optional<backend_close> why_not_keep(const release_facts& f) {
  if (!f.client_left_cleanly || !f.client->at_boundary())
    return backend_close::unclean_end;
  const auto& b = *f.backend;
  if (b.broken() || !b.at_boundary())
    return backend_close::protocol;
  if (b.copy_both() || b.in_copy())
    return backend_close::copy;
  if (b.ready_count() != f.client->sync_points() + f.readies_before_relay)
    return backend_close::busy;
  if (b.ready_status() != 'I')
    return backend_close::in_transaction;
  return std::nullopt;
}

}  // namespace sluice::gateway::pool
