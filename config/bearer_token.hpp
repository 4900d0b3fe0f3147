// The one bearer-token check of sluice's HTTP APIs (the admin API and the sync ingest API):
// `Authorization: Bearer TOKEN` against the token an operator keeps in a file.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::config {

// True when `authorization` is "Bearer " (scheme case-insensitive, RFC 7235) followed by
// `expected`, spaces around the token ignored. Constant time in the token's bytes; an
// empty `expected` matches nothing.
bool bearer_token_matches(std::string_view authorization, std::string_view expected);

// A token file's token: its text less surrounding whitespace; nullopt (with `error`) when
// it cannot be read or holds only whitespace.
std::optional<std::string> read_token_file(const std::string& path, std::string* error = nullptr);

}  // namespace sluice::config
