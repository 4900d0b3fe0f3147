#include <catch2/catch.hpp>

#include "config/cidr.hpp"
#include "config/issues.hpp"
#include "config/units.hpp"

#include <string>
#include <vector>

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

TEST_CASE("number and address parsers refuse signs, spaces, NULs and overflow", "[config]") {
  const std::string nul(1, '\0');
  std::string why;
  // Durations: digits and units only; more digits than 64 bits hold is not 0.
  for (const std::string& bad : std::vector<std::string>{
           "-1s", "+1s", " 1s", "1s ", "1 s", "1s" + nul, "1" + nul + "s",
           "99999999999999999999999s", "1099511627777ms", "1099511627s1099511627s", "0x10s"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad));
  }
  CHECK_FALSE(parse_duration("99999999999999999999999s", &why));
  CHECK(why == "'99999999999999999999999s' is too long");
  CHECK(parse_duration("1099511627776ms")->count() == int64_t{1} << 40);
  // Sizes: the same, and a space before the unit stays allowed.
  for (const std::string& bad :
       std::vector<std::string>{"-1", "+1", " 1", "1MiB" + nul, "1" + nul,
                                "99999999999999999999999", "18446744073709551616", "0x10"}) {
    INFO(bad);
    CHECK_FALSE(parse_size(bad));
  }
  CHECK_FALSE(parse_size("99999999999999999999999", &why));
  CHECK(why == "'99999999999999999999999' is too large");
  CHECK(*parse_size("16 MiB") == 16ull << 20);
  // host:port: the port is digits only; the host has no space, control byte or NUL.
  for (const std::string& bad :
       std::vector<std::string>{"h:-1", "h:+80", "h: 80", "h:80 ", "h:0x50", "h:80" + nul,
                                "h" + nul + "x:80", "127.0.0.1" + nul + "zz:80", "h x:80", "h\t:80",
                                "[::1" + nul + "]:80", "h:99999999999999999999"}) {
    INFO(bad);
    CHECK_FALSE(parse_host_port(bad, &why));
    CHECK(why.find('\0') == std::string::npos);  // messages quote it escaped
  }
  CHECK_FALSE(parse_host_port("127.0.0.1" + nul + "zz:80", &why));
  CHECK(why == "the host in '127.0.0.1\\x00zz:80' has a space, a control character or a NUL");
}

TEST_CASE("IP addresses and CIDR prefixes are parsed byte for byte", "[config][cidr]") {
  const std::string nul(1, '\0');
  // inet_pton reads a C string: "127.0.0.1\0zz" used to parse as 127.0.0.1.
  for (const std::string& bad :
       std::vector<std::string>{"127.0.0.1" + nul + "zz", "127.0.0.1" + nul, nul + "127.0.0.1",
                                "::1" + nul + "x", "[::1" + nul + "]", " 127.0.0.1", "127.0.0.1 ",
                                "127.0.0.01", "127.1", "0x7f.0.0.1", ""}) {
    INFO(bad);
    CHECK_FALSE(ip_address::parse(bad));
  }
  CHECK(ip_address::parse("127.0.0.1")->str() == "127.0.0.1");
  CHECK(ip_address::parse("[::1]")->str() == "::1");
  // Prefixes: decimal digits only. "/-0" used to be read as /0, every address.
  std::string why;
  for (const std::string& bad : std::vector<std::string>{
           "0.0.0.0/-0", "0.0.0.0/+0", "10.0.0.0/-8", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8 ",
           "10.0.0.0/", "10.0.0.0/8" + nul, "10.0.0.0/0x8", "10.0.0.0/99999999999", "10.0.0.0/8/8",
           "::/-0", "10.0.0.0" + nul + "/8"}) {
    INFO(bad);
    CHECK_FALSE(cidr::parse(bad, &why));
    CHECK(why.find('\0') == std::string::npos);
  }
  CHECK_FALSE(cidr::parse("0.0.0.0/-0", &why));
  CHECK(why == "'0.0.0.0/-0': prefix length must be a number");
  CHECK(cidr::parse("0.0.0.0/0")->str() == "0.0.0.0/0");
  CHECK(cidr::parse("10.0.0.0/08")->str() == "10.0.0.0/8");
  CHECK(cidr::parse("::/0")->str() == "::/0");
}

TEST_CASE("nearest suggests the closest known key, whatever the lengths", "[config]") {
  const std::vector<std::string> known = {"listen", "listeners",       "routes", "upstream",
                                          "tls",    "max_batch_bytes", "workers"};
  struct row {
    const char* word;
    const char* hint;
  };
  for (auto [word, hint] :
       {row{"listners", "listeners"}, row{"listen", "listen"}, row{"lisen", "listen"},
        row{"rotes", "routes"}, row{"tsl", "tls"}, row{"max_batch_byte", "max_batch_bytes"},
        row{"x", ""}, row{"", ""}, row{"completely_unrelated_key_name", ""}}) {
    INFO(word);
    CHECK(nearest(word, known) == hint);
  }
  // Skipping candidates by length gives what comparing with every candidate gives.
  std::string long_word(5000, 'w');
  CHECK(nearest(long_word, known).empty());
  for (const std::string w : {"lis", "listenerss", "workerz", "upstreams", "t", "tlss"}) {
    std::string best;
    size_t best_d = std::max<size_t>(2, w.size() / 3) + 1;
    for (const auto& c : known) {
      if (edit_distance(w, c) < best_d) {
        best_d = edit_distance(w, c);
        best = c;
      }
    }
    INFO(w);
    CHECK(nearest(w, known) == best);
  }
}
