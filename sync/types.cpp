#include "sync/types.hpp"

#include <charconv>
#include <cstdio>

namespace sluice::sync {

std::optional<col_type> infer(const jvalue& v) {
  switch (v.kind) {
    case jkind::boolean:
      return col_type::boolean;
    case jkind::integer:
      return v.int64 ? col_type::bigint : col_type::numeric;
    case jkind::number:
      return col_type::numeric;
    case jkind::string:
      return col_type::text;
    case jkind::object:
    case jkind::array:
      return col_type::jsonb;
    case jkind::null:
      break;
  }
  return std::nullopt;
}

col_type widen(col_type a, col_type b) {
  if (a == b)
    return a;
  auto numeric = [](col_type t) { return t == col_type::bigint || t == col_type::numeric; };
  if (numeric(a) && numeric(b))
    return col_type::numeric;
  return col_type::text;
}

std::string_view sql_name(col_type t) {
  switch (t) {
    case col_type::boolean:
      return "boolean";
    case col_type::bigint:
      return "bigint";
    case col_type::numeric:
      return "numeric";
    case col_type::text:
      return "text";
    case col_type::timestamptz:
      return "timestamp with time zone";
    case col_type::jsonb:
      return "jsonb";
  }
  return "text";
}

std::optional<col_type> from_sql_name(std::string_view s) {
  if (s == "boolean")
    return col_type::boolean;
  if (s == "bigint")
    return col_type::bigint;
  if (s == "numeric")
    return col_type::numeric;
  if (s == "text")
    return col_type::text;
  if (s == "timestamp with time zone")
    return col_type::timestamptz;
  if (s == "jsonb")
    return col_type::jsonb;
  return std::nullopt;
}

std::optional<col_type> from_declared(std::string_view s) {
  if (s == "timestamptz" || s == "timestamp with time zone" || s == kUnixMsType)
    return col_type::timestamptz;
  if (s == "boolean" || s == "bigint" || s == "numeric" || s == "text" || s == "jsonb") {
    return from_sql_name(s);
  }
  return std::nullopt;
}

bool fits(const jvalue& v, col_type t) {
  auto got = infer(v);
  return !got || fits(*got, t);
}

bool fits(col_type got, col_type t) {
  if (got == t)
    return true;
  switch (t) {
    case col_type::numeric:
      return got == col_type::bigint;  // integers (numeric already matched)
    case col_type::text:
      return true;  // anything renders as text
    case col_type::timestamptz:
      // Strings (ISO 8601 and whatever PostgreSQL parses) and integers: unix seconds,
      // the only timestamp format Stripe sends.
      return got == col_type::text || got == col_type::bigint;
    default:
      return false;
  }
}

void append_copy_text(std::string& out, std::string_view s) {
  const char* p = s.data();
  const char* e = p + s.size();
  while (p < e) {
    const char* run = p;
    while (p < e && *p != '\\' && *p != '\t' && *p != '\n' && *p != '\r')
      ++p;
    out.append(run, static_cast<size_t>(p - run));
    if (p == e)
      break;
    out += '\\';
    out += *p == '\\' ? '\\' : *p == '\t' ? 't' : *p == '\n' ? 'n' : 'r';
    ++p;
  }
}

namespace {

// `secs` (within kLimit) and `millis` (0-999, or -1 for none) as a UTC timestamptz literal.
void append_civil(std::string& out, int64_t secs, int millis) {
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0)
    rem += 86400, --days;
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian).
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  // Year 0 is 1 BC in PostgreSQL's notation.
  const bool bc = y <= 0;
  char frac[8] = "";
  if (millis >= 0)
    std::snprintf(frac, sizeof frac, ".%03d", millis);
  char buf[80];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld %02lld:%02lld:%02lld%s+00%s",
                        static_cast<long long>(bc ? 1 - y : y), static_cast<long long>(m),
                        static_cast<long long>(d), static_cast<long long>(rem / 3600),
                        static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60),
                        frac, bc ? " BC" : "");
  out.append(buf, static_cast<size_t>(n));
}

// Beyond any year PostgreSQL stores: such values are written as sent, so the database
// refuses them (the record is rejected, docs/sync.md).
constexpr int64_t kLimit = 9'000'000'000'000LL;

bool parse_int(std::string_view digits, int64_t& v) {
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  return ec == std::errc() && p == digits.data() + digits.size();
}

}  // namespace

void append_unix_seconds(std::string& out, std::string_view digits) {
  int64_t secs = 0;
  if (!parse_int(digits, secs) || secs > kLimit || secs < -kLimit) {
    out.append(digits);
    return;
  }
  append_civil(out, secs, -1);
}

void append_unix_ms(std::string& out, std::string_view digits) {
  int64_t ms = 0;
  if (!parse_int(digits, ms) || ms / 1000 > kLimit || ms / 1000 < -kLimit) {
    out.append(digits);
    return;
  }
  int64_t secs = ms / 1000, rem = ms % 1000;
  if (rem < 0)
    rem += 1000, --secs;
  append_civil(out, secs, static_cast<int>(rem));
}

void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  out += '"';
}

void append_copy_jsonb(std::string& out, std::string_view json) {
  // JSON has backslashes only inside strings, as escapes: walk them pairwise, so an
  // escaped backslash followed by "u0000" is left alone.
  size_t i = 0;
  while (i < json.size()) {
    size_t b = json.find('\\', i);
    if (b == std::string_view::npos) {
      append_copy_text(out, json.substr(i));
      return;
    }
    append_copy_text(out, json.substr(i, b - i));
    if (json.compare(b, 6, "\\u0000") == 0) {
      i = b + 6;  // PostgreSQL cannot store NUL: stripped (count_nul_escapes counts them)
      continue;
    }
    append_copy_text(out, json.substr(b, 2));
    i = b + 2;
  }
}

size_t count_nul_escapes(std::string_view json) {
  size_t n = 0;
  for (size_t b = json.find('\\'); b != std::string_view::npos; b = json.find('\\', b + 2)) {
    if (json.compare(b, 6, "\\u0000") == 0)
      ++n;
  }
  return n;
}

void append_copy_value(std::string& out, const jvalue& v, col_type t) {
  switch (v.kind) {
    case jkind::null:
      out += "\\N";
      return;
    case jkind::string:
      // Raw JSON string text holds no control characters and a backslash only as an
      // escape: without escapes it is already valid COPY text.
      if (v.escaped)
        append_copy_json_string(out, v.text);
      else
        out.append(v.text);
      return;
    case jkind::boolean:
      if (t == col_type::boolean) {
        out += v.is_true() ? 't' : 'f';
        return;
      }
      out.append(v.text);
      return;
    case jkind::integer:
      if (t == col_type::timestamptz) {
        append_unix_seconds(out, v.text);
        return;
      }
      out.append(v.text);
      return;
    case jkind::number:
      out.append(v.text);
      return;
    case jkind::object:
    case jkind::array:
      // As sent; whitespace between tokens may hold tabs and newlines.
      if (t == col_type::jsonb)
        append_copy_jsonb(out, v.text);
      else
        append_copy_text(out, v.text);
      return;
  }
}

}  // namespace sluice::sync
