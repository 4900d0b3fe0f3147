// Named string values in the order first seen: a backend's ParameterStatus set (what a
// reused backend's next client is shown) and a startup packet's parameters. Pure.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/pg_wire.hpp"

namespace sluice::gateway::pool {

using param_list = std::vector<std::pair<std::string, std::string>>;

// Replaces the value of `name` (compared case-insensitively, as PostgreSQL compares
// setting names) or appends it.
void set_param(param_list& l, std::string_view name, std::string value);
// nullptr when absent.
const std::string* find_param(const param_list& l, std::string_view name);
bool same_name(std::string_view a, std::string_view b);

// One ParameterStatus ('S') message per entry.
pg::bytes encode_parameter_status(const param_list& l);
// A ParameterStatus body (name NUL value NUL); false when malformed.
bool parse_parameter_status(pg::byte_span body, std::string& name, std::string& value);
// A simple Query ('Q') message.
pg::bytes encode_query(std::string_view sql);
// ReadyForQuery ('Z') with the transaction status byte.
pg::bytes encode_ready_for_query(char status);

}  // namespace sluice::gateway::pool
