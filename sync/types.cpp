#include "sync/types.hpp"

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
  if (s == "timestamptz" || s == "timestamp with time zone")
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
      return got == col_type::text;  // strings
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
    case jkind::number:
      out.append(v.text);
      return;
    case jkind::object:
    case jkind::array:
      // As sent; whitespace between tokens may hold tabs and newlines.
      append_copy_text(out, v.text);
      return;
  }
}

}  // namespace sluice::sync
