#include "gateway/auth_query.hpp"

#include <boost/asio/steady_timer.hpp>
#include <ctime>

#include "config/read_file.hpp"
#include "gateway/session/message_reader.hpp"
#include "gateway/upstream.hpp"
#include "gateway/upstream_login.hpp"

namespace sluice::gateway {

namespace {

pg::bytes frontend(char type, const std::string& body) {
  pg::bytes out{static_cast<uint8_t>(type)};
  pg::put_u32(out, static_cast<uint32_t>(4 + body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::string u16(uint16_t v) {
  return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

std::string u32(uint32_t v) {
  pg::bytes b;
  pg::put_u32(b, v);
  return std::string(b.begin(), b.end());
}

// Parse + Bind($1 = user, text) + Execute + Sync of the unnamed statement.
pg::bytes encode_lookup(const std::string& sql, const std::string& user) {
  auto out = frontend('P', std::string("\0", 1) + sql + std::string("\0", 1) + u16(0));
  auto bind = frontend('B', std::string("\0\0", 2) + u16(0) + u16(1) +
                                u32(static_cast<uint32_t>(user.size())) + user + u16(0));
  auto exec = frontend('E', std::string("\0", 1) + u32(0));
  auto sync = frontend('S', "");
  for (auto* m : {&bind, &exec, &sync})
    out.insert(out.end(), m->begin(), m->end());
  return out;
}

std::optional<std::vector<std::optional<std::string>>> parse_data_row(pg::byte_span b) {
  if (b.size() < 2)
    return std::nullopt;
  const size_t n = (size_t{b[0]} << 8) | b[1];
  size_t off = 2;
  std::vector<std::optional<std::string>> row;
  for (size_t i = 0; i < n; ++i) {
    if (b.size() - off < 4)
      return std::nullopt;
    const int32_t len = static_cast<int32_t>(pg::get_u32(b.data() + off));
    off += 4;
    if (len < 0) {
      row.emplace_back(std::nullopt);
      continue;
    }
    if (b.size() - off < static_cast<size_t>(len))
      return std::nullopt;
    row.emplace_back(
        std::string(reinterpret_cast<const char*>(b.data() + off), static_cast<size_t>(len)));
    off += static_cast<size_t>(len);
  }
  return row;
}

}  // namespace

std::optional<int64_t> parse_valid_until(std::string_view t) {
  if (t == "infinity")
    return INT64_MAX;
  if (t == "-infinity")
    return INT64_MIN;
  std::tm tm{};
  int sign_off = 0;
  // "YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM]"
  if (t.size() < 19 || t[4] != '-' || t[7] != '-' || t[10] != ' ' || t[13] != ':' || t[16] != ':')
    return std::nullopt;
  auto num = [&](size_t at, size_t len) -> int {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) {
      if (t[i] < '0' || t[i] > '9')
        return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_year < -1900 || tm.tm_mon < 0 || tm.tm_mday < 0 || tm.tm_hour < 0 || tm.tm_min < 0 ||
      tm.tm_sec < 0)
    return std::nullopt;
  size_t i = 19;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9')
      ++i;
  }
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    const int sign = t[i] == '-' ? -1 : 1;
    if (t.size() < i + 3)
      return std::nullopt;
    int hh = num(i + 1, 2), mm = 0;
    if (t.size() >= i + 6 && t[i + 3] == ':')
      mm = num(i + 4, 2);
    if (hh < 0 || mm < 0)
      return std::nullopt;
    sign_off = sign * (hh * 3600 + mm * 60);
  }
  return static_cast<int64_t>(timegm(&tm)) - sign_off;
}

std::optional<user_secret> secret_from_row(const std::vector<std::optional<std::string>>& row,
                                           int64_t now) {
  // A role without a password cannot log in by password: like an unknown user.
  if (row.size() < 2 || !row[1] || row[1]->empty())
    return std::nullopt;
  user_secret s;
  s.stored = *row[1];
  if (row.size() > 2 && row[2]) {
    auto until = parse_valid_until(*row[2]);
    s.expired = !until || *until < now;  // unreadable: refuse rather than guess
  }
  if (row.size() > 3 && row[3])
    s.can_login = *row[3] == "t" || *row[3] == "true";
  return s;
}

lookup_failure explain_query_error(const pg::error_fields& e, const std::string& auth_user,
                                   bool default_sql) {
  lookup_failure f;
  f.message = "auth query as \"" + auth_user + "\" failed: " + e.code + " " + e.message;
  if (e.code == "42501") {
    f.hint = default_sql ? "the default auth query reads pg_authid, which only a superuser may; "
                           "create the SECURITY DEFINER function of docs/security.md and set "
                           "auth.query.sql to use it"
                         : "grant \"" + auth_user +
                               "\" EXECUTE on the auth query's function (docs/security.md)";
  } else if (e.code == "42883" || e.code == "42P01" || e.code == "3F000") {
    f.hint =
        "the auth query's function or table does not exist in this database; create it "
        "(docs/security.md) or fix auth.query.sql";
  }
  return f;
}

net::awaitable<lookup_result> run_auth_query(const route_runtime& route, tunnel::manager* tunnels,
                                             const std::string& user, const std::string& database) {
  lookup_result r;
  const auto& q = *route.cfg->auth.query;
  auto failed = [&](std::string message, std::string hint = {}) {
    r.failure = lookup_failure{std::move(message), std::move(hint)};
    return r;
  };
  std::string why;
  auto password = config::read_secret_file(q.password_file, &why);
  if (!password)
    co_return failed("auth.query.password_file: " + why);

  pg::startup_message sm;
  sm.set("user", q.user);
  sm.set("database", database);
  sm.set("application_name", "sluice auth query");
  sm.set("TimeZone", "UTC");
  sm.set("DateStyle", "ISO");
  upstream_connection up;
  const auto startup = pg::encode_startup(sm);
  if (auto f = co_await connect_upstream(route, tunnels, startup, up))
    co_return failed("auth query cannot reach the database: " + f->message, f->hint);
  std::shared_ptr<pg_stream> stream(std::move(up.stream));
  auto& s = *stream;
  // No answer in time is a failure, never a hang: closing makes every read fail.
  net::steady_timer deadline(s.socket().get_executor());
  auto fired = std::make_shared<bool>(false);
  deadline.expires_after(route.cfg->upstream.connect_timeout);
  deadline.async_wait([stream, fired](error_code ec) {
    if (ec)
      return;
    *fired = true;
    stream->close();
  });
  struct cancel_on_exit {
    net::steady_timer& t;
    ~cancel_on_exit() { t.cancel(); }
  } guard{deadline};

  message_reader in(std::move(up.pending));
  const auto io_failure = [&](const char* when) {
    return *fired ? "auth query timed out " + std::string(when) + " (upstream.connect_timeout " +
                        std::to_string(route.cfg->upstream.connect_timeout.count()) + "ms)"
                  : "auth query connection closed " + std::string(when);
  };
  // Log in as the auth user, the way sessions log in.
  auto login = co_await log_in(s, in, up.tls, q.user, *password);
  if (login.result == upstream_login::kind::io)
    co_return failed(
        io_failure(login.after_authentication ? "after logging in" : "while logging in"));
  if (login.result == upstream_login::kind::refused) {
    co_return failed("auth query user \"" + q.user + "\" cannot log in: " + login.error.code + " " +
                         login.error.message,
                     login.from_backend && login.error.code == "28P01"
                         ? "check auth.query.password_file (and the user's pg_hba.conf line)"
                         : login.error.detail);
  }
  char type = 0;
  pg::bytes body;
  error_code ec;
  const bool default_sql = q.sql.empty();
  auto msg = encode_lookup(default_sql ? config::kDefaultAuthQuery : q.sql, user);
  co_await s.write_all(net::buffer(msg), ec);
  std::optional<pg::error_fields> error;
  std::optional<std::vector<std::optional<std::string>>> row;
  for (;;) {
    if (!co_await in.next(s, type, body, ec))
      co_return failed(io_failure("during the query"));
    if (type == 'E')
      error = pg::parse_error(body);
    else if (type == 'D' && !row)
      row = parse_data_row(body);
    else if (type == 'Z')
      break;
  }
  auto bye = frontend('X', "");
  co_await s.write_all(net::buffer(bye), ec);
  s.close();
  if (error) {
    r.failure = explain_query_error(*error, q.user, default_sql);
    co_return r;
  }
  if (row)
    r.secret = secret_from_row(*row, static_cast<int64_t>(std::time(nullptr)));
  co_return r;
}

}  // namespace sluice::gateway
