// PROXY protocol v1/v2 (gateway/proxy_header.*), parsed before anything else on a
// listener behind a load balancer. Invariants: `consumed` stays in the input, the header
// alone parses to the same result, and the address survives str() -> parse().
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "fuzz_check.hpp"
#include "gateway/proxy_header.hpp"

using namespace sluice::gateway;
using sluice::config::ip_address;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  (void)looks_like_proxy_header(in);
  auto h = parse_proxy_header(in);
  if (h.status == proxy_status::invalid)
    FUZZ_CHECK(!h.error.empty());
  if (h.status != proxy_status::ok && h.status != proxy_status::local)
    return 0;
  FUZZ_CHECK(h.consumed > 0 && h.consumed <= size);
  const bool v1 = size >= 6 && std::memcmp(data, "PROXY ", 6) == 0;
  if (v1) {
    FUZZ_CHECK(h.consumed <= kMaxProxyV1);
    // A v1 header is printable text: a NUL inside must not be accepted (issue 16).
    FUZZ_CHECK(std::find(data, data + h.consumed, 0) == data + h.consumed);
  }
  auto alone = parse_proxy_header(in.first(h.consumed));
  FUZZ_CHECK(alone.status == h.status);
  FUZZ_CHECK(alone.consumed == h.consumed);
  if (h.status == proxy_status::ok) {
    FUZZ_CHECK(alone.source == h.source && alone.source_port == h.source_port);
    auto back = ip_address::parse(h.source.str());
    FUZZ_CHECK(back && *back == h.source);
  }
  return 0;
}
