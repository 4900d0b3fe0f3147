// session::negotiate(): carries out the rules of negotiate_rules.cpp on the client's
// socket, up to the StartupMessage (or a passthrough, or a cancel, which it runs to the end).
#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <openssl/ssl.h>

#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/session/negotiate.hpp"
#include "gateway/session/session.hpp"

namespace sluice::gateway {

net::awaitable<bool> session::accept_tls(const listener_runtime& l) {
  client_.start_tls(l.tls->native().native_handle(), tls_stream::role::server);
  error_code ec;
  co_await client_.tls().handshake(ec);
  if (!ec)
    co_return true;
  // Closed by the startup timer (or a shutdown): that cause and its words stay.
  record_.end(close_reason::tls_handshake_failed, ec.message());
  co_return false;
}

net::awaitable<session::negotiated> session::negotiate() {
  const negotiated done;  // outcome::done: the cause is recorded, or the work was done
  negotiated relaying;    // a passthrough relay runs and will close the session
  relaying.what = negotiated::outcome::relaying;
  const auto* l = rt_->listener(record_.listener);
  const negotiate_policy policy{l->tls && l->cfg->client_tls != config::client_tls_policy::disabled,
                                l->cfg->tls && l->cfg->tls->mode == config::tls_mode::passthrough &&
                                    l->cfg->client_tls != config::client_tls_policy::disabled};
  pg::bytes buf;
  std::array<uint8_t, 2048> chunk;
  error_code ec;
  bool tls_done = false;

  // Direct TLS (PostgreSQL 17 sslnegotiation=direct): the first byte is a TLS
  // handshake record. Peek, so the ClientHello stays in the socket for OpenSSL.
  co_await client_.socket().async_wait(tcp::socket::wait_read,
                                       net::redirect_error(net::use_awaitable, ec));
  uint8_t first = 0;
  if (!ec)
    client_.socket().receive(net::buffer(&first, 1), tcp::socket::message_peek, ec);
  if (ec) {
    record_.end(close_reason::client_closed);
    co_return done;
  }
  switch (answer_first_byte(first, policy)) {
    case first_byte_step::read_packet:
      break;
    case first_byte_step::passthrough:
      co_return co_await passthrough({}) ? relaying : done;
    case first_byte_step::refuse_close:
      record_.end(close_reason::protocol_violation, "direct TLS on a listener without TLS");
      co_return done;
    case first_byte_step::accept_tls: {
      if (!co_await accept_tls(*l))
        co_return done;
      const unsigned char* alpn = nullptr;
      unsigned alpn_len = 0;
      SSL_get0_alpn_selected(client_.tls().native_handle(), &alpn, &alpn_len);
      if (alpn_len == 0) {
        const refusal r{close_reason::protocol_violation, "08P01", kAlpnRequired, {}};
        co_await reject(r);
        co_return done;
      }
      tls_done = true;
      break;
    }
  }

  for (;;) {
    auto p = pg::parse_first_packet(buf);
    const auto a = answer_first_packet(p, buf.size(), tls_done, policy);
    switch (a.step) {
      case packet_step::read_more: {
        size_t n = co_await client_.read_some(net::buffer(chunk), ec);
        if (ec) {
          record_.end(close_reason::client_closed, "client disconnected during startup");
          co_return done;
        }
        buf.insert(buf.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
        continue;
      }
      case packet_step::refuse: {
        const refusal r{close_reason::protocol_violation, "08P01", a.message, {}};
        co_await reject(r);
        co_return done;
      }
      case packet_step::reply_then_passthrough:
      case packet_step::reply_then_tls:
      case packet_step::reply_then_again: {
        buf.clear();
        co_await client_.write_all(net::buffer(&a.reply, 1), ec);
        if (ec) {
          record_.end(close_reason::client_closed);
          co_return done;
        }
        if (a.step == packet_step::reply_then_passthrough) {
          co_return co_await passthrough({}) ? relaying : done;
        }
        if (a.step == packet_step::reply_then_tls) {
          if (!co_await accept_tls(*l))
            co_return done;
          tls_done = true;
        }
        continue;
      }
      case packet_step::cancel:
        co_await handle_cancel(p.cancel);
        co_return done;
      case packet_step::startup: {
        negotiated n;
        n.what = negotiated::outcome::startup;
        n.early.assign(buf.begin() + static_cast<std::ptrdiff_t>(p.consumed), buf.end());
        if (tls_done) {
          if (const char* name =
                  SSL_get_servername(client_.tls().native_handle(), TLSEXT_NAMETYPE_host_name))
            n.sni = name;
        }
        n.startup = std::move(p.startup);
        co_return n;
      }
    }
  }
}

}  // namespace sluice::gateway
