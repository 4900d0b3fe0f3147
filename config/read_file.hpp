// Reading a whole file (keys, tokens, password files, certificates) in one place, with
// one wording for the failure.
#pragma once

#include <optional>
#include <string>

namespace sluice::config {

// The file's bytes as they are; nullopt when it cannot be read, with `error` set to
// "cannot read PATH: REASON" when given.
std::optional<std::string> read_file(const std::string& path, std::string* error = nullptr);

// A secret on one line (password file): the file less its trailing CR/LF.
std::optional<std::string> read_secret_file(const std::string& path, std::string* error = nullptr);

}  // namespace sluice::config
