// TLS ClientHello parser (gateway/client_hello.*), which sees every passthrough client's
// first bytes. Invariants: the SNI is bytes of the input, and bytes after a complete
// ClientHello do not change the answer.
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "gateway/client_hello.hpp"

using namespace sluice::gateway;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  auto r = parse_client_hello(in);
  if (r.status == hello_status::invalid)
    FUZZ_CHECK(!r.error.empty());
  if (r.status != hello_status::ok)
    return 0;
  FUZZ_CHECK(r.sni.size() <= size);
  if (!r.sni.empty()) {
    std::string_view whole(reinterpret_cast<const char*>(data), size);
    FUZZ_CHECK(whole.find(r.sni) != std::string_view::npos);
  }
  std::vector<uint8_t> more(data, data + size);
  more.push_back(0x17);  // the next record's first byte
  auto again = parse_client_hello(more);
  FUZZ_CHECK(again.status == hello_status::ok);
  FUZZ_CHECK(again.sni == r.sni);
  return 0;
}
