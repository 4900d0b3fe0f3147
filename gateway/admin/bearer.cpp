// Bearer-token check for state-changing admin requests. The token file is read on each
// request so rotating it needs no reload; the check itself is config/bearer_token.hpp's,
// shared with the sync ingest API.
#include "config/bearer_token.hpp"
#include "gateway/admin/http_server.hpp"

namespace sluice::admin {

bool bearer_matches(const std::string& authorization, const std::string& token_file) {
  if (token_file.empty())
    return false;
  auto token = config::read_token_file(token_file);
  return token && config::bearer_token_matches(authorization, *token);
}

}  // namespace sluice::admin
