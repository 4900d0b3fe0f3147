// A passthrough listener: the client's TLS goes to the backend untouched. Routing uses
// the ClientHello's SNI; the client is mid-handshake, so a refusal cannot be put into
// words it would see: it is logged, and the client sees the connection close.
#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <array>

#include "gateway/client_hello.hpp"
#include "gateway/session/session.hpp"
#include "gateway/upstream.hpp"

namespace sluice::gateway {

net::awaitable<bool> session::passthrough(pg::bytes buf) {
  relay_.opaque = true;
  const auto* l = rt_->listener(record_.listener);
  // Nothing is gained by reading the client's bytes first: the listener allowlist (the
  // address alone) is checked before any byte of the ClientHello is parsed. Route
  // allowlists need the SNI and come after.
  if (auto r =
          admit_listener(*l, record_.listener, peer_addr_, false, client_sees::closed_connection)) {
    record_.end(r->reason, r->message);
    co_return false;
  }
  std::array<uint8_t, 4096> chunk;
  error_code ec;
  client_hello_info hello;
  for (;;) {
    hello = parse_client_hello(buf);
    if (hello.status != hello_status::need_more)
      break;
    size_t n = co_await client_.read_some(net::buffer(chunk), ec);
    if (ec) {
      record_.end(close_reason::client_closed);
      co_return false;
    }
    buf.insert(buf.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (hello.status == hello_status::invalid) {
    record_.end(close_reason::protocol_violation, "passthrough: " + hello.error);
    co_return false;
  }
  timer_.cancel();
  env_.home->stats.handshake_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - record_.started).count());
  auto a = admit_route(*rt_, {record_.listener, hello.sni, "", "", ""}, peer_addr_,
                       client_sees::closed_connection);
  if (a.choice.route)
    record_.route = a.choice.route->name;
  if (a.refused) {
    record_.end(a.refused->reason, a.refused->message);
    co_return false;
  }
  if (auto r = admit_budget(*a.choice.route, "")) {
    record_.end(r->reason, r->message);
    co_return false;
  }
  advance(phase::connecting);
  upstream_connection up;
  const auto connect_started = std::chrono::steady_clock::now();
  if (auto f = co_await connect_passthrough(*a.route, env_.tunnels(), up, record_.conn)) {
    record_.end(f->reason, f->message);
    co_return false;
  }
  if (phase_ == phase::closed)
    co_return false;
  env_.home->stats.upstream_connect_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_started).count());
  if (up.connect_seconds >= 0)
    env_.home->stats.latency[record_.route].connect.observe(up.connect_seconds);
  server_ = std::move(up.stream);
  record_.upstream_tls = true;  // end to end, between the client and the database
  co_await server_->write_all(net::buffer(buf), ec);
  if (ec) {
    record_.end(close_reason::server_closed);
    co_return false;
  }
  record_.bytes_in += buf.size();
  advance(phase::relaying);
  idle_timeout_ = a.choice.route->idle_timeout;
  spawn_client_to_server();
  arm_idle_timer();
  spawn_server_to_client(false);
  co_return true;  // the relay closes the session from here
}

}  // namespace sluice::gateway
