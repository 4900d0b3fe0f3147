#include "gateway/session/client_login.hpp"

namespace sluice::gateway {

namespace {

pg::bytes auth_message(uint32_t code, std::string_view data) {
  pg::bytes out{'R'};
  pg::put_u32(out, static_cast<uint32_t>(4 + 4 + data.size()));
  pg::put_u32(out, code);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::string as_string(pg::byte_span b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

client_login::step failed(auth::auth_error e, std::string detail = {}) {
  client_login::step s;
  s.result = client_login::step::kind::failed;
  s.error = std::move(e);
  s.log_detail = std::move(detail);
  return s;
}

}  // namespace

pg::bytes encode_auth_ok() {
  return auth_message(0, {});
}

client_login::client_login(std::string user, std::optional<user_secret> secret,
                           auth::bytes channel_binding)
    : user_(std::move(user)), secret_(std::move(secret)) {
  std::optional<auth::scram_secret> scram;
  std::string why;
  if (secret_ && auth::classify_secret(secret_->stored) == auth::secret_kind::md5 &&
      !secret_->expired) {
    md5_.emplace(user_, secret_->stored);
    return;
  }
  if (secret_ && !secret_->expired) {
    if (auto s = auth::scram_secret_for(secret_->stored))
      scram = s.value();
  }
  auth::scram_server_options o;
  o.user = user_;
  o.secret = std::move(scram);
  o.channel_binding = std::move(channel_binding);
  scram_.emplace(std::move(o));
}

pg::bytes client_login::begin() {
  started_ = true;
  if (md5_)
    return auth_message(5, std::string_view(reinterpret_cast<const char*>(md5_->salt().data()),
                                            md5_->salt().size()));
  return pg::encode_sasl_mechanisms(scram_->mechanisms());
}

const std::optional<auth::key>& client_login::client_key() const {
  static const std::optional<auth::key> none;
  return scram_ ? scram_->client_key() : none;
}

client_login::step client_login::on_message(char type, pg::byte_span body) {
  if (!started_ || done_)
    return failed(auth::malformed("unexpected message"));
  if (type != 'p') {
    return failed({auth::sqlstate::kProtocolViolation,
                   std::string("expected password response, got message type ") + type, ""});
  }
  // Why a failure is what it is, for the log line only.
  auto detail = [&](std::string d) -> std::string {
    if (!secret_)
      return "no such user (mock exchange)";
    if (secret_->expired)
      return "User \"" + user_ + "\" has an expired password.";
    return d;
  };
  if (md5_) {
    // PasswordMessage: the response and its NUL.
    auto s = as_string(body);
    if (s.empty() || s.back() != '\0')
      return failed(auth::malformed("invalid password packet"));
    s.pop_back();
    if (auto e = md5_->check(s))
      return failed(*e, detail("wrong password (md5)"));
    return finish_ok({});
  }
  if (!sent_first_) {
    // SASLInitialResponse: mechanism NUL, int32 length, client-first-message.
    auto nul = std::find(body.begin(), body.end(), uint8_t{0});
    if (nul == body.end() || body.end() - nul < 5)
      return failed(auth::malformed("invalid SASLInitialResponse"));
    std::string mech(body.begin(), nul);
    const uint8_t* p = &*nul + 1;
    uint32_t len = pg::get_u32(p);
    std::string first(reinterpret_cast<const char*>(p + 4),
                      static_cast<size_t>(body.end() - nul) - 5);
    if (len != first.size())
      return failed(auth::malformed("invalid SASLInitialResponse length"));
    auto st = scram_->start(mech, first);
    if (st.failed())
      return failed(st.error, detail(st.log_detail));
    sent_first_ = true;
    step s;
    s.result = step::kind::more;
    s.to_client = auth_message(11, st.data);
    return s;
  }
  auto st = scram_->finish(as_string(body));
  if (st.failed())
    return failed(st.error, detail(st.log_detail.empty() ? "wrong password" : st.log_detail));
  return finish_ok(auth_message(12, st.data));
}

client_login::step client_login::finish_ok(pg::bytes final_message) {
  if (secret_ && !secret_->can_login) {
    return failed({auth::sqlstate::kInvalidAuthorization,
                   "role \"" + user_ + "\" is not permitted to log in", ""},
                  "rolcanlogin is false");
  }
  done_ = true;
  held_final_ = std::move(final_message);
  step s;
  s.result = step::kind::done;
  return s;
}

}  // namespace sluice::gateway
