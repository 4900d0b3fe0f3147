// PgBouncer's auth_file format, parsed without I/O:
//
//   "user" "SCRAM-SHA-256$4096:salt$StoredKey:ServerKey"
//   "other" "md5<32 hex>"        ; or a plaintext password
//
// One user per line: two double-quoted fields separated by blanks; a double quote inside
// a field is written twice (""); anything after the second field is ignored (as
// PgBouncer does). Blank lines and lines starting with ';' or '#' are comments.
// Stricter than PgBouncer where it would guess: a field may not span lines, a user may
// appear once, names and passwords may not be empty, and a value starting with
// "SCRAM-SHA-256$" must be a valid secret. Errors name the line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/auth/scram_secret.hpp"

namespace sluice::auth {

struct auth_file_entry {
  std::string user;
  std::string secret;  // as written (unquoted): SCRAM secret, md5 secret or plaintext
  secret_kind kind = secret_kind::plaintext;
  int line = 0;
};

struct auth_file_error {
  int line = 0;  // 1-based
  std::string message;
  // "auth_file line 3: ..."
  std::string describe() const;
};

struct auth_file_result {
  std::vector<auth_file_entry> entries;
  std::vector<auth_file_error> errors;  // empty when the file is valid
  bool ok() const { return errors.empty(); }
};

// Parses a whole file; every bad line is reported (not just the first), good lines kept.
auth_file_result parse_auth_file(std::string_view text);

}  // namespace sluice::auth
