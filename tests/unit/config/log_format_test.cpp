// logfmt values: what a strict decoder accepts, for client-supplied names too.
#include <catch2/catch.hpp>
#include <random>

#include "config/log.hpp"

using sluice::log::append_kv;

namespace {
std::string kv(std::string_view value) {
  std::string out;
  append_kv(out, "k", value);
  return out;
}

// Reverses append_kv's quoting (\" \\ \n \r \t \u00XX); fails on anything else.
std::string decode(const std::string& field) {
  REQUIRE(field.rfind(" k=", 0) == 0);
  std::string v = field.substr(3);
  if (v.empty() || v[0] != '"')
    return v;
  REQUIRE(v.size() >= 2);
  REQUIRE(v.back() == '"');
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    const char e = v[++i];
    if (e == 'u') {
      REQUIRE(v.substr(i + 1, 2) == "00");
      out += static_cast<char>(std::stoi(v.substr(i + 3, 2), nullptr, 16));
      i += 4;
    } else {
      REQUIRE(std::string("\"\\nrt").find(e) != std::string::npos);
      out += e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
    }
  }
  return out;
}

bool valid_utf8_without_controls(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F)
      return false;
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size())
      return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
        return false;
    i += n;
  }
  return true;
}
}  // namespace

TEST_CASE("logfmt values are quoted and escaped as strict decoders expect", "[log]") {
  struct row {
    std::string in, out;
  };
  const std::vector<row> rows = {
      {"plain", " k=plain"},
      {"", " k=\"\""},
      {"two words", " k=\"two words\""},
      {"a=b", " k=\"a=b\""},
      {"say \"hi\"", " k=\"say \\\"hi\\\"\""},
      {"back\\slash", " k=\"back\\\\slash\""},
      {"line\nbreak\r\ttab", " k=\"line\\nbreak\\r\\ttab\""},
      {std::string("nul\0x", 5), " k=\"nul\\u0000x\""},
      {"bell\x07", " k=\"bell\\u0007\""},
      {"del\x7f", " k=\"del\\u007f\""},
      {"caf\xc3\xa9", " k=caf\xc3\xa9"},                         // valid UTF-8 stays as it is
      {"\xe2\x82\xac 5", " k=\"\xe2\x82\xac 5\""},               // euro sign, quoted for the space
      {"\xf0\x9f\x90\x98", " k=\xf0\x9f\x90\x98"},               // 4-byte sequence
      {"bad\xff", " k=\"bad\\u00ff\""},                          // not UTF-8
      {"trunc\xc3", " k=\"trunc\\u00c3\""},                      // cut sequence
      {"over\xc0\xaf", " k=\"over\\u00c0\\u00af\""},             // overlong '/'
      {"surr\xed\xa0\x80", " k=\"surr\\u00ed\\u00a0\\u0080\""},  // UTF-16 surrogate
      {"big\xf4\x90\x80\x80", " k=\"big\\u00f4\\u0090\\u0080\\u0080\""},  // > U+10FFFF
  };
  for (const auto& r : rows) {
    INFO(r.in);
    CHECK(kv(r.in) == r.out);
    CHECK(decode(kv(r.in)) == r.in);
    CHECK(valid_utf8_without_controls(kv(r.in)));
  }
}

TEST_CASE("logfmt escaping round-trips random bytes and always yields clean UTF-8", "[log]") {
  std::mt19937 rng(16);
  for (int i = 0; i < 20000; ++i) {
    std::string v(rng() % 12, '\0');
    for (auto& c : v)
      c = static_cast<char>(rng());
    const auto out = kv(v);
    INFO(out);
    REQUIRE(valid_utf8_without_controls(out));
    REQUIRE(decode(out) == v);
  }
}
