#include "sync/types.hpp"

namespace sluice::sync {

std::optional<col_type> infer(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::boolean:
      return col_type::boolean;
    case nlohmann::json::value_t::number_integer:
      return col_type::bigint;
    case nlohmann::json::value_t::number_unsigned:
      return v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX) ? col_type::bigint
                                                                   : col_type::numeric;
    case nlohmann::json::value_t::number_float:
      return col_type::numeric;
    case nlohmann::json::value_t::string:
      return col_type::text;
    case nlohmann::json::value_t::object:
    case nlohmann::json::value_t::array:
      return col_type::jsonb;
    default:
      return std::nullopt;
  }
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

bool fits(const nlohmann::json& v, col_type t) {
  auto got = infer(v);
  if (!got)
    return true;
  if (*got == t)
    return true;
  switch (t) {
    case col_type::numeric:
      return v.is_number();
    case col_type::text:
      return true;  // anything renders as text
    case col_type::timestamptz:
      return v.is_string();
    default:
      return false;
  }
}

void append_copy_text(std::string& out, std::string_view s) {
  for (char ch : s) {
    switch (ch) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += ch;
    }
  }
}

void append_copy_value(std::string& out, const nlohmann::json& v, col_type t) {
  if (v.is_null()) {
    out += "\\N";
    return;
  }
  if (t == col_type::boolean) {
    out += v.get<bool>() ? 't' : 'f';
  } else if (v.is_string()) {
    append_copy_text(out, v.get_ref<const std::string&>());
  } else {
    // Numbers, objects, arrays (and booleans in text columns): their JSON text.
    append_copy_text(out, v.dump());
  }
}

}  // namespace sluice::sync
