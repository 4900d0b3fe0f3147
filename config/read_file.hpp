// Reading a whole file (keys, tokens, password files, certificates, the configuration)
// in one place, with one wording for the failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace sluice::config {

// The file's bytes as they are; nullopt when it cannot be read, with `error` set to
// "cannot read PATH: REASON" when given.
std::optional<std::string> read_file(const std::string& path, std::string* error = nullptr);

// The same, but a file larger than `max_bytes` (or a device like /dev/zero) is refused
// after reading at most one chunk past the limit: nullopt with `too_large` set and
// `error` "PATH is larger than MAX_BYTES bytes".
std::optional<std::string> read_file_at_most(const std::string& path, size_t max_bytes,
                                             std::string* error, bool* too_large = nullptr);

// A secret on one line (password file): the file less its trailing CR/LF.
std::optional<std::string> read_secret_file(const std::string& path, std::string* error = nullptr);

}  // namespace sluice::config
