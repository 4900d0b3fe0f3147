#include <catch2/catch.hpp>

#include "config/cidr.hpp"
#include "config/units.hpp"

using namespace sluice::config;

TEST_CASE("durations parse with units and refuse bare numbers", "[config]") {
  struct row {
    const char* text;
    int64_t ms;
  };
  for (auto [text, ms] :
       {row{"500ms", 500}, row{"10s", 10'000}, row{"30m", 1'800'000}, row{"2h", 7'200'000},
        row{"1d", 86'400'000}, row{"1m30s", 90'000}, row{"0s", 0}}) {
    INFO(text);
    auto d = parse_duration(text);
    REQUIRE(d);
    CHECK(d->count() == ms);
  }
  std::string why;
  CHECK_FALSE(parse_duration("30", &why));
  CHECK(why == "'30' has no unit; write it like 30s");
  CHECK_FALSE(parse_duration("10 seconds", &why));
  CHECK_FALSE(parse_duration("5y", &why));
  CHECK(why == "'5y': unknown unit 'y' (use ms, s, m, h or d)");
  CHECK_FALSE(parse_duration("", &why));
  CHECK(format_duration(duration{1'800'000}) == "30m");
  CHECK(format_duration(duration{1'500}) == "1500ms");
}

TEST_CASE("sizes parse binary and decimal units", "[config]") {
  CHECK(*parse_size("16MiB") == 16ull << 20);
  CHECK(*parse_size("512KiB") == 512ull << 10);
  CHECK(*parse_size("1GiB") == 1ull << 30);
  CHECK(*parse_size("16MB") == 16'000'000ull);
  CHECK(*parse_size("1024") == 1024ull);
  std::string why;
  CHECK_FALSE(parse_size("16Mb", &why));
  CHECK(why == "'16Mb': unknown unit 'Mb' (use B, KiB, MiB, GiB, kB, MB or GB)");
  CHECK_FALSE(parse_size("MiB", &why));
}

TEST_CASE("host:port parses IPv4, bracketed IPv6 and names", "[config]") {
  CHECK(*parse_host_port("0.0.0.0:5432") == host_port{"0.0.0.0", 5432});
  CHECK(*parse_host_port("[::]:5432") == host_port{"::", 5432});
  CHECK(*parse_host_port("db.example.com:6432") == host_port{"db.example.com", 6432});
  CHECK(parse_host_port("[::1]:0")->str() == "[::1]:0");
  std::string why;
  CHECK_FALSE(parse_host_port("::1:5432", &why));
  CHECK(why == "'::1:5432': write IPv6 as [addr]:port");
  CHECK_FALSE(parse_host_port("localhost", &why));
  CHECK(why == "'localhost' has no port; write host:port");
  CHECK_FALSE(parse_host_port("localhost:70000", &why));
  CHECK(why == "'localhost:70000': port must be 0..65535");
}

TEST_CASE("CIDR parsing names host bits and bad prefixes", "[config][cidr]") {
  std::string why;
  CHECK(cidr::parse("10.0.0.0/8")->str() == "10.0.0.0/8");
  CHECK(cidr::parse("2001:db8:100::/48")->str() == "2001:db8:100::/48");
  CHECK(cidr::parse("192.0.2.80")->str() == "192.0.2.80/32");
  CHECK(cidr::parse("::ffff:10.0.0.0/104")->str() == "10.0.0.0/8");
  CHECK_FALSE(cidr::parse("10.0.0.1/8", &why));
  CHECK(why == "'10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?");
  CHECK_FALSE(cidr::parse("10.0.0.0/33", &why));
  CHECK(why == "'10.0.0.0/33': prefix length must be 0..32");
  CHECK_FALSE(cidr::parse("office", &why));
  CHECK(why == "'office' is not an IPv4 or IPv6 address or CIDR block");
  CHECK_FALSE(cidr::parse("10.0.0.0/x", &why));
}

TEST_CASE("host patterns: exact and one-label wildcards", "[config]") {
  CHECK(host_pattern_matches("acme.gw.example.net", "ACME.gw.example.net"));
  CHECK(host_pattern_matches("*.gw.example.net", "acme.gw.example.net"));
  CHECK_FALSE(host_pattern_matches("*.gw.example.net", "a.b.gw.example.net"));
  CHECK_FALSE(host_pattern_matches("*.gw.example.net", "gw.example.net"));
  CHECK_FALSE(host_pattern_matches("acme.gw.example.net", "acme.gw.example.ne"));
}
