#include "gateway/session/server_login.hpp"

#include "gateway/auth/md5_auth.hpp"

namespace sluice::gateway {

namespace {

pg::bytes frontend(char type, std::string_view body) {
  pg::bytes out{static_cast<uint8_t>(type)};
  pg::put_u32(out, static_cast<uint32_t>(4 + body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace

pg::bytes encode_password_message(std::string_view s) {
  return frontend('p', std::string(s) + '\0');
}

pg::bytes encode_sasl_initial(std::string_view mechanism, std::string_view data) {
  std::string body(mechanism);
  body += '\0';
  pg::bytes len;
  pg::put_u32(len, static_cast<uint32_t>(data.size()));
  body.append(len.begin(), len.end());
  body += data;
  return frontend('p', body);
}

pg::bytes encode_sasl_response(std::string_view data) {
  return frontend('p', data);
}

server_login::server_login(server_credentials c) : c_(std::move(c)) {}

server_login::step server_login::fail(std::string sqlstate, std::string message,
                                      std::string detail) {
  step s;
  s.result = step::kind::failed;
  s.error = {"FATAL", std::move(sqlstate), std::move(message), std::move(detail), {}};
  return s;
}

server_login::step server_login::on_message(char type, pg::byte_span body) {
  step s;
  s.result = step::kind::more;
  if (type == 'N')  // NoticeResponse during login: nothing to do
    return s;
  if (type == 'E') {
    auto e = pg::parse_error(body);
    s.result = step::kind::failed;
    s.from_backend = true;
    s.error = e ? *e : pg::error_fields{"FATAL", "08P01", "invalid ErrorResponse", {}, {}};
    return s;
  }
  if (type != 'R' || body.size() < 4)
    return fail("08P01", std::string("unexpected message during login: type ") + type);
  const uint32_t code = pg::get_u32(body.data());
  const std::string data(reinterpret_cast<const char*>(body.data()) + 4, body.size() - 4);
  const std::string who = "user \"" + c_.user + "\"";
  switch (code) {
    case 0:  // AuthenticationOk
      if (scram_ && !verified_)
        return fail("08P01",
                    "the database sent AuthenticationOk before proving it knows the "
                    "SCRAM secret of " +
                        who + "; refused");
      s.result = step::kind::authenticated;
      return s;
    case 3:  // AuthenticationCleartextPassword
      if (c_.password.empty())
        return fail("28000",
                    "the database asks for a cleartext password for " + who +
                        ", which sluice only has as a SCRAM secret",
                    "give the user's password in auth.file, or use scram-sha-256 in the "
                    "database's pg_hba.conf");
      mechanism_ = "password";
      s.to_server = encode_password_message(c_.password);
      return s;
    case 5: {  // AuthenticationMD5Password
      if (data.size() != 4)
        return fail("08P01", "invalid AuthenticationMD5Password");
      auth::md5_salt salt{};
      std::copy(data.begin(), data.end(), salt.begin());
      mechanism_ = "md5";
      if (!c_.password.empty()) {
        s.to_server =
            encode_password_message(auth::md5_response_from_password(c_.password, c_.user, salt));
      } else if (!c_.md5_secret.empty()) {
        s.to_server = encode_password_message(auth::md5_response_from_secret(c_.md5_secret, salt));
      } else {
        return fail(
            "28000",
            "the database asks for md5 for " + who + ", but its stored secret is SCRAM-SHA-256",
            "use scram-sha-256 in the database's pg_hba.conf for this user");
      }
      return s;
    }
    case 10: {  // AuthenticationSASL
      auto mechs = pg::parse_sasl_mechanisms(body);
      if (!mechs)
        return fail("08P01", "invalid AuthenticationSASL");
      auth::scram_client_options o;
      o.password = c_.password;
      if (c_.password.empty()) {
        if (!c_.client_key || !c_.secret)
          return fail("28000",
                      "the database asks for SCRAM for " + who +
                          ", but sluice has only an md5 secret for it",
                      "store a SCRAM-SHA-256 password for the user (password_encryption = "
                      "scram-sha-256, then ALTER ROLE ... PASSWORD)");
        o.client_key = c_.client_key;
        o.secret = c_.secret;
      }
      o.channel_binding = c_.channel_binding;
      scram_.emplace(std::move(o));
      auto first = scram_->start(*mechs);
      if (!first)
        return fail(first.error().sqlstate, first.error().message, first.error().detail);
      mechanism_ = first->mechanism;
      s.to_server = encode_sasl_initial(first->mechanism, first->message);
      return s;
    }
    case 11: {  // AuthenticationSASLContinue
      if (!scram_)
        return fail("08P01", "AuthenticationSASLContinue without AuthenticationSASL");
      auto fin = scram_->on_server_first(data);
      if (!fin)
        return fail(fin.error().sqlstate, fin.error().message, fin.error().detail);
      s.to_server = encode_sasl_response(fin.value());
      return s;
    }
    case 12: {  // AuthenticationSASLFinal
      if (!scram_)
        return fail("08P01", "AuthenticationSASLFinal without AuthenticationSASL");
      auto v = scram_->on_server_final(data);
      if (!v)
        return fail(v.error().sqlstate, v.error().message, v.error().detail);
      verified_ = true;
      return s;
    }
    default:
      return fail("0A000", "the database asks for authentication method " + std::to_string(code) +
                               ", which sluice does not support");
  }
}

}  // namespace sluice::gateway
