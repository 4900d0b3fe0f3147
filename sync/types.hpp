// Column types inferred from JSON values, how they widen on conflict, and how a value
// is written in COPY text format for a column of a given type. Pure; unit-tested.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sync/json_scan.hpp"

namespace sluice::sync {

enum class col_type { boolean, bigint, numeric, text, timestamptz, jsonb };

// nullopt for JSON null (says nothing about the type). Integers beyond int64 and
// numbers with a fraction or exponent are numeric.
std::optional<col_type> infer(const jvalue& v);
// The narrowest type both fit in: bigint+numeric -> numeric, anything else mixed -> text.
col_type widen(col_type a, col_type b);
std::string_view sql_name(col_type t);
// From format_type() output; nullopt for types the writer does not manage.
std::optional<col_type> from_sql_name(std::string_view s);
// Declared type names accepted in a record's "types" map and in syncs[].types:
// the column types, plus "timestamptz_ms" (a timestamptz column whose integers are unix
// milliseconds rather than seconds).
std::optional<col_type> from_declared(std::string_view s);
inline constexpr std::string_view kUnixMsType = "timestamptz_ms";
// Does `v` fit a column of type `t` as is (null always fits)?
bool fits(const jvalue& v, col_type t);
// The same for a non-null value whose inferred type is `got`.
bool fits(col_type got, col_type t);

// Appends `v` (which fits `t`) in COPY text format: \N for null, strings unescaped,
// numbers as sent, objects and arrays as their JSON text; \ \t \n \r escaped for COPY.
// A jsonb column's \u0000 escapes are stripped (PostgreSQL's jsonb cannot hold NUL), as
// are NUL characters in strings (append_copy_json_string); an integer for a timestamptz
// column is unix seconds.
void append_copy_value(std::string& out, const jvalue& v, col_type t);
void append_copy_text(std::string& out, std::string_view s);
// Unix seconds (decimal digits) as a timestamptz literal in UTC ("2024-01-01 00:00:00+00").
void append_unix_seconds(std::string& out, std::string_view digits);
// Unix milliseconds likewise, with the milliseconds ("2024-01-01 00:00:00.250+00").
void append_unix_ms(std::string& out, std::string_view digits);
// Appends `s` as a JSON string (quotes, escapes for " \ and control characters).
void append_json_string(std::string& out, std::string_view s);
// JSON text for a jsonb column in COPY text format, its \u0000 escapes stripped.
void append_copy_jsonb(std::string& out, std::string_view json);
// How many \u0000 escapes (NUL characters the writer strips) a JSON text holds.
size_t count_nul_escapes(std::string_view json);

}  // namespace sluice::sync
