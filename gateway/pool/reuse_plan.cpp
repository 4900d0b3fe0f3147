#include "gateway/pool/reuse_plan.hpp"

#include <array>

namespace sluice::gateway::pool {

namespace {

constexpr std::array<std::string_view, 14> kTracked = {"application_name",
                                                       "DateStyle",
                                                       "TimeZone",
                                                       "search_path",
                                                       "client_encoding",
                                                       "IntervalStyle",
                                                       "extra_float_digits",
                                                       "lc_monetary",
                                                       "lc_numeric",
                                                       "lc_time",
                                                       "statement_timeout",
                                                       "lock_timeout",
                                                       "idle_in_transaction_session_timeout",
                                                       "default_transaction_isolation"};

bool is_key(std::string_view name) {
  return same_name(name, "user") || same_name(name, "database");
}

}  // namespace

bool is_tracked(std::string_view name) {
  for (auto t : kTracked) {
    if (same_name(t, name))
      return true;
  }
  return false;
}

std::string quote_literal(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

reuse_plan plan_reuse(const param_list& origin, const param_list& wanted) {
  reuse_plan p;
  std::string sets;
  for (const auto& [name, value] : wanted) {
    if (is_key(name))
      continue;
    const std::string* had = find_param(origin, name);
    if (!is_tracked(name)) {
      if (!had || *had != value) {
        p.why = "startup parameter " + name + " differs";
        return p;
      }
      continue;
    }
    if (had && *had == value)
      continue;
    sets += sets.empty() ? "SELECT " : ", ";
    sets +=
        "pg_catalog.set_config(" + quote_literal(name) + ", " + quote_literal(value) + ", false)";
  }
  for (const auto& [name, value] : origin) {
    if (is_key(name) || find_param(wanted, name))
      continue;
    p.why = "startup parameter " + name + " is not given by the client";
    return p;
  }
  p.reusable = true;
  p.sql = std::move(sets);
  return p;
}

}  // namespace sluice::gateway::pool
