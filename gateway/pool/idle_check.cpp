#include "gateway/pool/idle_check.hpp"

#include <poll.h>

namespace sluice::gateway::pool {

bool open_and_quiet(pg_stream& s) {
  if (!s.socket().is_open() || s.has_buffered())
    return false;
  pollfd p{};
  p.fd = s.socket().native_handle();
  p.events = POLLIN | POLLRDHUP;
  const int n = ::poll(&p, 1, 0);
  return n == 0;
}

}  // namespace sluice::gateway::pool
