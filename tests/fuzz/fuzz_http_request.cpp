// The HTTP request head as the ingest API (sync/ingest_server.cpp) or the admin API
// (gateway/admin/http_server.cpp) parse it: Beast's request_parser with the limits the
// server sets (sync/ingest_limits.hpp, gateway/admin/http_limits.hpp), fed the bytes in
// pieces like a socket would. Built twice: SLUICE_FUZZ_INGEST or SLUICE_FUZZ_ADMIN.
// Invariants: a body never exceeds the limit, and the ingest server's own read of a
// known-length body (which sizes a buffer from Content-Length) stays within it.
#include <boost/beast/http.hpp>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"

#if defined(SLUICE_FUZZ_INGEST)
#include "config/settings.hpp"
#include "sync/ingest_limits.hpp"
#elif defined(SLUICE_FUZZ_ADMIN)
#include "gateway/admin/http_limits.hpp"
#else
#error "define SLUICE_FUZZ_INGEST or SLUICE_FUZZ_ADMIN"
#endif

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using parser_t = http::request_parser<http::string_body>;

uint64_t configure(parser_t& p) {
#if defined(SLUICE_FUZZ_INGEST)
  const uint64_t body = sluice::config::ingest_settings{}.max_batch_bytes;  // the default
  p.body_limit(body);
  p.header_limit(sluice::sync::kIngestHeaderLimit);
#else
  const uint64_t body = sluice::admin::kAdminBodyLimit;
  p.body_limit(body);
  p.header_limit(sluice::admin::kAdminHeaderLimit);
#endif
  return body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  // The first byte sets the size of the reads, the rest is what the client sent.
  const size_t piece = 1 + data[0] % 64 * (data[0] & 0x80 ? 64 : 1);
  const char* in = reinterpret_cast<const char*>(data + 1);
  const size_t n = size - 1;
  parser_t p;
  const uint64_t body_limit = configure(p);
  // Like http::read over a beast::flat_buffer: parse what is buffered, read more when
  // the parser needs it, and at the end of the stream call put_eof if it got anything.
  std::string buffer;
  size_t fed = 0;
  beast::error_code ec;
  bool header_seen = false;
  for (;;) {
    if (!buffer.empty()) {
      size_t used = p.put(boost::asio::buffer(buffer), ec);
      buffer.erase(0, used);
      if (p.is_header_done() && !header_seen) {
        header_seen = true;
        // The ingest server reads a body of known length itself, sized from this.
        if (auto len = p.content_length())
          FUZZ_CHECK(*len <= body_limit);
      }
      if (!ec && p.is_done())
        break;
      if (ec && ec != http::error::need_more)
        break;
      if (!ec && used > 0)
        continue;
      ec = {};
    }
    if (fed == n) {
      if (p.got_some())
        p.put_eof(ec);
      else
        ec = http::error::end_of_stream;
      break;
    }
    size_t take = std::min(piece, n - fed);
    buffer.append(in + fed, take);
    fed += take;
  }
  if (!ec && p.is_done()) {
    auto& req = p.get();
    FUZZ_CHECK(req.body().size() <= body_limit);
    // What both servers read from a parsed request.
    (void)req.method();
    std::string method(req.method_string());
    std::string target(req.target());
    FUZZ_CHECK(!method.empty() && !target.empty());
    std::string auth(req[http::field::authorization]);
    std::string type(req[http::field::content_type]);
    (void)req.keep_alive();
  }
  return 0;
}
