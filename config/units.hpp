// Parsers for the scalar forms sluice.yaml uses: durations, byte sizes, host:port.
// Pure functions: on failure they return nullopt and explain why.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/settings.hpp"

namespace sluice::config {

// "500ms", "10s", "30m", "2h", "1d", and sums like "1m30s". A bare number is refused
// because "30" is ambiguous (seconds? minutes?).
std::optional<duration> parse_duration(std::string_view text, std::string* why = nullptr);

// "1024", "64KiB", "16MiB", "1GiB" (binary) and "16MB" (decimal).
std::optional<uint64_t> parse_size(std::string_view text, std::string* why = nullptr);

// "0.0.0.0:5432", "[::]:5432", "db.example.com:5432", "127.0.0.1:0".
std::optional<host_port> parse_host_port(std::string_view text, std::string* why = nullptr);

// Renders a duration the way a user would write it ("10s", "500ms", "30m").
std::string format_duration(duration d);

}  // namespace sluice::config
