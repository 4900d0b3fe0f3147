// A CancelRequest connection: find the session the key names (gateway/cancel.hpp) and
// forward the backend's own key to its backend, or the request to the peer instance the
// key names. A cancel carries no reply; whatever happens, the client just sees the close.
#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <set>

#include "gateway/cancel.hpp"
#include "gateway/session/session.hpp"
#include "gateway/upstream.hpp"

namespace sluice::gateway {

net::awaitable<void> session::handle_cancel(const pg::cancel_request& c) {
  ++env_.home->stats.cancel_requests;
  const auto& cfg = rt_->settings->cancel;
  const auto* l = rt_->listener(record_.listener);
  if (admit_listener(*l, record_.listener, peer_addr_, false, client_sees::closed_connection)) {
    record_.end(close_reason::cancel_rejected_allowlist);
    co_return;
  }
  if (!env_.cancels() || !env_.cancels()->admit(peer_addr_, cfg.rate_per_second)) {
    record_.end(close_reason::cancel_rate_limited);
    co_return;
  }
  if (auto target = env_.cancels()->find(c)) {
    record_.route = target->route;
    const route_runtime* rr = target->rt->route(target->route);
    pg::cancel_request backend{target->backend.pid, target->backend.key};
    upstream_connection up;
    auto f = co_await connect_upstream(*rr, env_.tunnels(), pg::encode_cancel_request(backend), up);
    if (f)
      record_.end(close_reason::cancel_failed, f->message);
    else
      record_.end(close_reason::cancel_forwarded);
    if (up.stream)
      up.stream->close();
    co_return;
  }
  const uint32_t instance = cancel_registry::instance_of(c.pid);
  if (instance != env_.cancels()->instance_id()) {
    for (const auto& peer : cfg.peers) {
      if (peer.instance_id != instance)
        continue;
      // The key names another instance: hand the request to it unchanged.
      auto ex = co_await net::this_coro::executor;
      tcp::resolver resolver(ex);
      error_code ec;
      auto results =
          co_await resolver.async_resolve(peer.address.host, std::to_string(peer.address.port),
                                          net::redirect_error(net::use_awaitable, ec));
      tcp::socket sock(ex);
      if (!ec)
        co_await net::async_connect(sock, results, net::redirect_error(net::use_awaitable, ec));
      auto bytes = pg::encode_cancel_request(c);
      if (!ec)
        co_await net::async_write(sock, net::buffer(bytes),
                                  net::redirect_error(net::use_awaitable, ec));
      record_.end(ec ? close_reason::cancel_peer_failed : close_reason::cancel_to_peer,
                  "instance " + std::to_string(instance) + " at " + peer.address.str() +
                      (ec ? ": " + ec.message() : ""));
      co_return;
    }
  }
  if (l->cfg->tls && l->cfg->tls->mode == config::tls_mode::passthrough) {
    // Passthrough sessions never showed us their key (it travels inside the client's
    // TLS), so the client sends the backend's own. Offer it to each backend this
    // listener routes to; PostgreSQL ignores keys that are not its own.
    std::set<std::string> tried;
    for (const auto& r : rt_->settings->routes) {
      if (!r.match.listener.empty() && r.match.listener != record_.listener)
        continue;
      auto where = r.upstream.host + ":" + std::to_string(r.upstream.port) + "/" + r.upstream.via;
      if (!tried.insert(where).second)
        continue;
      upstream_connection up;
      co_await connect_upstream(*rt_->route(r.name), env_.tunnels(), pg::encode_cancel_request(c),
                                up);
      if (up.stream)
        up.stream->close();
    }
    record_.end(close_reason::cancel_broadcast,
                std::to_string(tried.size()) + " backend(s) of passthrough listener");
    co_return;
  }
  // Unknown keys are dropped silently, as PostgreSQL does.
  record_.end(close_reason::cancel_unknown_key);
}

}  // namespace sluice::gateway
