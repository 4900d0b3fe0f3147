#include <openssl/ssl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <random>

#include "gateway/client_hello.hpp"
#include "gateway/proxy_header.hpp"

using namespace sluice::gateway;

namespace {
// A real ClientHello from OpenSSL, written to a memory BIO (no network).
std::vector<uint8_t> client_hello(const char* sni) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  if (sni)
    SSL_set_tlsext_host_name(ssl, sni);
  SSL_connect(ssl);  // wants to read the ServerHello; the ClientHello is in wbio
  std::vector<uint8_t> out(BIO_ctrl_pending(wbio));
  BIO_read(wbio, out.data(), static_cast<int>(out.size()));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}
std::vector<uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}
}  // namespace

TEST_CASE("ClientHello SNI from a real OpenSSL ClientHello, fed in pieces", "[tls][passthrough]") {
  auto hello = client_hello("db.acme.gw.example.net");
  REQUIRE(hello.size() > 100);
  for (size_t n = 0; n < hello.size(); n += 7) {
    CHECK(parse_client_hello({hello.data(), n}).status == hello_status::need_more);
  }
  auto info = parse_client_hello(hello);
  CHECK(info.status == hello_status::ok);
  CHECK(info.sni == "db.acme.gw.example.net");
  auto none = parse_client_hello(client_hello(nullptr));
  CHECK(none.status == hello_status::ok);
  CHECK(none.sni.empty());
}

TEST_CASE("ClientHello split across two TLS records", "[tls][passthrough]") {
  auto hello = client_hello("split.example.net");
  // Re-frame the handshake bytes as two records.
  std::vector<uint8_t> hs(hello.begin() + 5, hello.end());
  size_t half = hs.size() / 2;
  std::vector<uint8_t> two;
  for (auto [from, to] : {std::pair{size_t{0}, half}, std::pair{half, hs.size()}}) {
    size_t len = to - from;
    two.insert(two.end(),
               {0x16, 0x03, 0x01, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)});
    two.insert(two.end(), hs.begin() + static_cast<std::ptrdiff_t>(from),
               hs.begin() + static_cast<std::ptrdiff_t>(to));
  }
  auto info = parse_client_hello(two);
  CHECK(info.status == hello_status::ok);
  CHECK(info.sni == "split.example.net");
}

TEST_CASE("ClientHello garbage is invalid or incomplete, never a crash", "[tls][passthrough]") {
  CHECK(parse_client_hello(bytes_of("GET / HTTP/1.1\r\n")).status == hello_status::invalid);
  std::mt19937 rng(3);
  auto hello = client_hello("fuzz.example.net");
  for (int i = 0; i < 5000; ++i) {
    auto mutated = hello;
    for (int k = 0; k < 4; ++k)
      mutated[5 + rng() % (mutated.size() - 5)] = static_cast<uint8_t>(rng());
    auto info = parse_client_hello(mutated);
    CHECK(info.sni.size() <= mutated.size());
  }
}

static std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// Regression (issue 16, defect 1): a 61-byte ClientHello whose server_name list claims
// 0xfff0 bytes inside a 5-byte extension made the parser read ~64 KiB past the buffer.
TEST_CASE("ClientHello whose server_name list overruns its extension is invalid",
          "[tls][passthrough][regression]") {
  std::string hex = "1603010038010000340303";
  for (int i = 0; i < 32; ++i)
    hex += "11";
  hex += "00000213010100000900000005ffff00fff0";
  const auto packet = from_hex(hex);
  REQUIRE(packet.size() == 61);
  // An exact-size heap copy, so a sanitizer build sees any read past the end.
  auto exact = std::make_unique<uint8_t[]>(packet.size());
  std::copy(packet.begin(), packet.end(), exact.get());
  auto info = parse_client_hello({exact.get(), packet.size()});
  CHECK(info.status == hello_status::invalid);
  CHECK(info.sni.empty());
  CHECK(info.error == "server_name list length does not match its extension");
}

TEST_CASE("ClientHello server_name lengths are checked against the extension, not the hello",
          "[tls][passthrough][regression]") {
  // A real hello with a known SNI; locate the server_name extension by its name bytes.
  const std::string sni = "bound.example.net";
  const auto hello = client_hello(sni.c_str());
  auto at = std::search(hello.begin(), hello.end(), sni.begin(), sni.end());
  REQUIRE(at != hello.end());
  const size_t name = static_cast<size_t>(at - hello.begin());
  // Layout before the name: type(2) len(2) list_len(2) name_type(1) name_len(2).
  const size_t ext_len = name - 7, list_len = name - 5, name_len = name - 2;
  auto with = [&](size_t off, uint16_t v) {
    auto h = hello;
    h[off] = static_cast<uint8_t>(v >> 8);
    h[off + 1] = static_cast<uint8_t>(v);
    return parse_client_hello(h);
  };
  const uint16_t real_list = static_cast<uint16_t>(3 + sni.size());
  for (uint16_t v : {uint16_t(real_list + 1), uint16_t(real_list + 100), uint16_t(0xffff)})
    CHECK(with(list_len, v).status == hello_status::invalid);
  CHECK(with(list_len, real_list - 1).status == hello_status::invalid);
  for (uint16_t v : {uint16_t(sni.size() + 1), uint16_t(0xfff0)})
    CHECK(with(name_len, v).status == hello_status::invalid);
  // A shorter extension length cuts the list: the name can no longer be read whole.
  CHECK(with(ext_len, static_cast<uint16_t>(2 + real_list - 1)).status == hello_status::invalid);
  // Unchanged, it still parses.
  CHECK(parse_client_hello(hello).sni == sni);
}

TEST_CASE("PROXY protocol v1", "[proxy]") {
  auto h = parse_proxy_header(bytes_of("PROXY TCP4 198.51.100.7 10.0.0.5 51234 5432\r\nrest"));
  REQUIRE(h.status == proxy_status::ok);
  CHECK(h.source.str() == "198.51.100.7");
  CHECK(h.source_port == 51234);
  CHECK(h.consumed == 45);
  // A seventh field, or a NUL anywhere in the line (found by the fuzz campaign).
  CHECK(parse_proxy_header(bytes_of("PROXY TCP4 198.51.100.7 10.0.0.5 51234 5432 x\r\n")).status ==
        proxy_status::invalid);
  CHECK(parse_proxy_header(
            bytes_of(std::string("PROXY TCP6 2001:db8::1 2001:8::2 40 0 5\0k\r\n", 43)))
            .status == proxy_status::invalid);
  CHECK(parse_proxy_header(bytes_of(std::string("PROXY UNKNOWN \0\r\n", 17))).status ==
        proxy_status::invalid);
  auto v6 = parse_proxy_header(bytes_of("PROXY TCP6 2001:db8::1 2001:db8::2 4000 5432\r\n"));
  REQUIRE(v6.status == proxy_status::ok);
  CHECK(v6.source.str() == "2001:db8::1");
  CHECK(parse_proxy_header(bytes_of("PROXY UNKNOWN\r\n")).status == proxy_status::local);
  CHECK(parse_proxy_header(bytes_of("PROXY TCP4 198.51.100.7")).status == proxy_status::need_more);
  CHECK(parse_proxy_header(bytes_of("PROXY TCP4 nope 10.0.0.5 1 2\r\n")).error ==
        "PROXY v1 header has a bad source address");
  CHECK(parse_proxy_header(bytes_of("PROXY TCP4 1.2.3.4 10.0.0.5 99999 2\r\n")).error ==
        "PROXY v1 header has a bad source port");
  CHECK(parse_proxy_header(bytes_of(std::string("PROXY TCP4 ") + std::string(120, '1'))).error ==
        "PROXY v1 header longer than 107 bytes");
  CHECK(parse_proxy_header(std::vector<uint8_t>{0, 0, 0, 8}).status == proxy_status::not_proxy);
}

TEST_CASE("PROXY protocol v2 with TLVs", "[proxy]") {
  std::vector<uint8_t> v2 = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A,   0x51, 0x55,
                             0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 12 + 7, 192,  0,
                             2,    80,   10,   0,    0,    5,    0xC8,   0x35, 0x15,
                             0x38, 0x04, 0x00, 0x04, 'x',  'y',  'z',    'w'};  // a TLV, skipped
  for (size_t n = 0; n < v2.size(); ++n) {
    CHECK(parse_proxy_header({v2.data(), n}).status == proxy_status::need_more);
  }
  auto h = parse_proxy_header(v2);
  REQUIRE(h.status == proxy_status::ok);
  CHECK(h.source.str() == "192.0.2.80");
  CHECK(h.source_port == 51253);
  CHECK(h.consumed == v2.size());
  auto local = v2;
  local[12] = 0x20;
  CHECK(parse_proxy_header(local).status == proxy_status::local);
  auto short_block = v2;
  short_block[15] = 4;
  short_block.resize(20);
  CHECK(parse_proxy_header(short_block).error == "PROXY v2 IPv4 block too short");
  auto v3 = v2;
  v3[12] = 0x31;
  CHECK(parse_proxy_header(v3).error == "unsupported PROXY protocol version");
}

TEST_CASE("PROXY v1 addresses and ports are checked byte for byte", "[proxy]") {
  // Issue 16: inet_pton read "127.0.0.1\0zz" as a C string and stopped at the NUL.
  struct row {
    std::string line;
    const char* error;  // "" when accepted
  };
  const std::string nul(1, '\0');
  const row rows[] = {
      {"PROXY TCP4 127.0.0.1 10.0.0.5 1 2\r\n", ""},
      {"PROXY TCP4 127.0.0.1" + nul + "zz 10.0.0.5 1 2\r\n",
       "PROXY v1 header has a bad source address"},
      {"PROXY TCP4 127.0.0.1" + nul + " 10.0.0.5 1 2\r\n",
       "PROXY v1 header has a bad source address"},
      {"PROXY TCP4 127.0.0.1 10.0.0.5" + nul + "x 1 2\r\n",
       "PROXY v1 header has a bad destination address"},
      {"PROXY TCP4 127.0.0.1 nope 1 2\r\n", "PROXY v1 header has a bad destination address"},
      {"PROXY TCP4 127.0.0.1 2001:db8::2 1 2\r\n", "PROXY v1 header has a bad destination address"},
      {"PROXY TCP6 2001:db8::1 10.0.0.5 1 2\r\n", "PROXY v1 header has a bad destination address"},
      {"PROXY TCP4 127.0.0.1 10.0.0.5 +1 2\r\n", "PROXY v1 header has a bad source port"},
      {"PROXY TCP4 127.0.0.1 10.0.0.5 -1 2\r\n", "PROXY v1 header has a bad source port"},
      {"PROXY TCP4 127.0.0.1 10.0.0.5 1" + nul + " 2\r\n", "PROXY v1 header has a bad source port"},
      {"PROXY TCP4 127.0.0.1 10.0.0.5 65536 2\r\n", "PROXY v1 header has a bad source port"},
      {"PROXY TCP4 127.0.0.1 10.0.0.5 000001 2\r\n", "PROXY v1 header has a bad source port"},
      {"PROXY TCP4 127.0.0.1 10.0.0.5 1 -2\r\n", "PROXY v1 header has a bad destination port"},
      {"PROXY TCP4 127.0.0.1 10.0.0.5 1 70000\r\n", "PROXY v1 header has a bad destination port"},
      {"PROXY TCP4 127.0.0.1 10.0.0.5 1 \r\n", "PROXY v1 header has a bad destination port"},
      {"PROXY TCP4 127.0.0.1 10.0.0.5 1 2" + nul + "\r\n",
       "PROXY v1 header has a bad destination port"},
  };
  for (const auto& r : rows) {
    INFO(r.line);
    auto h = parse_proxy_header(bytes_of(r.line));
    if (*r.error == '\0') {
      CHECK(h.status == proxy_status::ok);
    } else {
      CHECK(h.status == proxy_status::invalid);
      CHECK(h.error == r.error);
    }
  }
}
