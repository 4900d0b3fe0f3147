// PROXY v1/v2 from a trusted load balancer: the client's real address replaces the
// peer's before anything else is decided on it (gateway/proxy_header.hpp parses).
#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <array>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/proxy_header.hpp"
#include "gateway/session/session.hpp"

namespace sluice::gateway {

net::awaitable<bool> session::read_proxy_header(const listener_runtime& l) {
  bool trusted = false;
  for (const auto& c : l.proxy_trusted)
    trusted = trusted || c.contains(peer_addr_);
  std::array<uint8_t, 536> peek;  // 16-byte v2 header + addresses + generous TLVs
  error_code ec;
  net::steady_timer pause(client_.socket().get_executor());
  for (;;) {
    co_await client_.socket().async_wait(tcp::socket::wait_read,
                                         net::redirect_error(net::use_awaitable, ec));
    size_t n = ec ? 0 : client_.socket().receive(net::buffer(peek), tcp::socket::message_peek, ec);
    if (ec || n == 0) {
      record_.end(close_reason::client_closed);
      co_return false;
    }
    auto h = parse_proxy_header({peek.data(), n});
    if (h.status == proxy_status::not_proxy) {
      if (trusted && l.cfg->proxy->required) {
        record_.end(
            close_reason::proxy_header_missing,
            "peer " + peer_addr_.str() + " is a trusted load balancer but sent no PROXY header");
        co_return false;
      }
      co_return true;
    }
    if (!trusted) {
      record_.end(
          close_reason::proxy_header_untrusted,
          "PROXY header from " + peer_addr_.str() + ", which is not in proxy_protocol.trusted");
      co_return false;
    }
    if (h.status == proxy_status::invalid ||
        (h.status == proxy_status::need_more && n == peek.size())) {
      record_.end(close_reason::proxy_header_invalid,
                  h.error.empty() ? "PROXY header too long" : h.error);
      co_return false;
    }
    if (h.status == proxy_status::need_more) {
      // The rest of the header is in flight; peeking again at once would spin.
      pause.expires_after(std::chrono::milliseconds(5));
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    co_await net::async_read(client_.socket(), net::buffer(peek.data(), h.consumed),
                             net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      // The startup timer may have closed the socket: then its cause stays.
      record_.end(close_reason::client_closed);
      co_return false;
    }
    if (h.status == proxy_status::ok) {
      record_.balancer = record_.peer;
      peer_addr_ = h.source;
      record_.peer = h.source.str() + ":" + std::to_string(h.source_port);
    }
    co_return true;
  }
}

}  // namespace sluice::gateway
