#include "gateway/session/auth_phase.hpp"

#include "gateway/session/login_steps.hpp"

namespace sluice::gateway {

std::string hint_upstream_refuses_plaintext(std::string_view route) {
  return "route \"" + std::string(route) +
         "\" connects to the server without TLS, which it refuses; set "
         "upstream.tls.sslmode: require (or prefer) on the route";
}

std::string hint_channel_binding_impossible() {
  return "sluice terminates your TLS connection, so SCRAM channel binding cannot reach "
         "the database. Connect with channel_binding=disable, or use a listener with "
         "tls.mode: passthrough for end-to-end TLS (docs/security.md)";
}

pg::bytes explain_backend_error(pg::byte_span body, bool upstream_tls, std::string_view route) {
  auto e = pg::parse_error(body);
  if (!e)
    return {};
  if (!upstream_tls && e->code == "28000" &&
      e->message.find("no encryption") != std::string::npos) {
    e->hint = hint_upstream_refuses_plaintext(route);
    return pg::encode_error(*e);
  }
  if (e->message.find("channel binding negotiation error") != std::string::npos) {
    // The client's TLS ends at sluice, so it cannot bind to the database's certificate;
    // a database reached over TLS must refuse the resulting "y" flag.
    e->hint = hint_channel_binding_impossible();
    return pg::encode_error(*e);
  }
  return {};
}

auth_phase::auth_phase(bool upstream_tls, std::string route, mint_fn mint)
    : upstream_tls_(upstream_tls), route_(std::move(route)), mint_(std::move(mint)) {}

auth_output auth_phase::feed(pg::byte_span in) {
  auth_output out;
  if (status_ != auth_status::need_more) {
    out.status = status_;
    return out;
  }
  pending_.insert(pending_.end(), in.begin(), in.end());
  const pg::byte_span buf(pending_);
  auto& to = out.to_client;
  size_t off = 0;
  for (;;) {
    pg::message_view m;
    size_t used = 0;
    auto st = pg::next_message(buf.subspan(off), m, used, kMaxMessage);
    if (st == pg::frame_status::need_more)
      break;
    if (st == pg::frame_status::invalid) {
      status_ = out.status = auth_status::invalid;
      to.clear();
      pending_.clear();
      return out;
    }
    const auto whole = buf.subspan(off, used);
    off += used;
    if (m.type != 'S')
      out.steps.push_back(login_step_name(m.type, m.body));
    if (m.type == 'R') {
      if (auto mechs = pg::parse_sasl_mechanisms(m.body)) {
        std::vector<std::string> kept;
        for (auto& mech : *mechs) {
          if (mech.find("-PLUS") == std::string::npos)
            kept.push_back(std::move(mech));
        }
        auto enc = pg::encode_sasl_mechanisms(kept);
        to.insert(to.end(), enc.begin(), enc.end());
        continue;
      }
    }
    if (m.type == 'E') {
      if (auto e = pg::parse_error(m.body); e && !out.backend_error)
        out.backend_error = std::move(*e);
      if (auto hinted = explain_backend_error(m.body, upstream_tls_, route_); !hinted.empty()) {
        to.insert(to.end(), hinted.begin(), hinted.end());
        continue;
      }
    }
    if (m.type == 'K' && mint_ && !minted_) {
      // The client gets a key minted here; the backend's stays with the gateway.
      if (auto k = pg::parse_backend_key_data(m.body)) {
        minted_ = mint_(*k);
        auto enc = pg::encode_backend_key_data(*minted_);
        to.insert(to.end(), enc.begin(), enc.end());
        continue;
      }
    }
    to.insert(to.end(), whole.begin(), whole.end());
    if (m.type == 'Z') {
      // What follows is the relay's: passed on as it is.
      const auto rest = buf.subspan(off);
      to.insert(to.end(), rest.begin(), rest.end());
      out.after_ready = rest.size();
      status_ = out.status = auth_status::ready;
      pending_.clear();
      return out;
    }
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(off));
  return out;
}

}  // namespace sluice::gateway
