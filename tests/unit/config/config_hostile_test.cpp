// Hostile configuration files: whatever the bytes, loading gives a normal config error
// that names a line, and never throws or aborts (issue 16, defect 4: a key like
// `[a, b]: 1` made yaml-cpp throw out of `as<std::string>()` and abort the process).
#include <catch2/catch.hpp>
#include <fstream>

#include "config/load.hpp"
#include "tests/support/process.hpp"

using namespace sluice::config;

namespace {

load_result parse(const std::string& yaml) {
  return load_string(yaml, "/etc/sluice", {false});
}

const std::string kGood =
    "listeners:\n"
    "  - name: pg\n"
    "    listen: 127.0.0.1:6432\n"
    "    client_tls: disabled\n"
    "routes:\n"
    "  - name: db\n"
    "    upstream: {host: 127.0.0.1, port: 5432}\n";

std::string nested(const std::string& open, const std::string& close, int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i)
    s += open;
  s += "x";
  for (int i = 0; i < depth; ++i)
    s += close;
  return s;
}

std::string indented_maps(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i)
    s += std::string(2 * static_cast<size_t>(i), ' ') + "k:\n";
  return s;
}

std::string dashes(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i)
    s += "- ";
  return s + "x\n";
}

std::string billion_laughs() {
  std::string s = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 40; ++i) {
    auto p = "*a" + std::to_string(i - 1);
    s += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + p + ", " + p + ", " + p +
         ", " + p + ", " + p + ", " + p + ", " + p + ", " + p + ", " + p + ", " + p + "]\n";
  }
  return s;
}

}  // namespace

TEST_CASE("config: hostile YAML gives an error with a line, never an exception", "[config]") {
  struct row {
    const char* what;
    std::string yaml;
    int line;              // the line the first error names
    const char* expected;  // part of that error's message
  };
  const row rows[] = {
      {"a list as a key", "[a, b]: 1\n", 1, "a key must be a plain name"},
      {"a mapping as a key", "region: x\n{a: 1}: 2\n", 2, "a key must be a plain name"},
      {"an explicit complex key", "region: x\n? [x]\n: 1\n", 2, "a key must be a plain name"},
      {"a null key", "region: x\n~: 1\n", 2, "a key must be a plain name"},
      {"an empty explicit key", "region: x\n? \n: 1\n", 0, "a key must be a plain name"},
      {"an empty quoted key", "region: x\n\"\": 1\n", 2, "a key must be a plain name"},
      {"a key with a NUL escape", "\"reg\\0ion\": x\n", 1, "a key must be a plain name"},
      // An alias is the anchored node itself: yaml-cpp marks it with the anchor's line.
      {"an alias to a mapping as a key", "a: &m {x: 1}\n*m : 2\n", 1, "a key must be a plain name"},
      {"a complex key in a nested mapping", kGood + "cancel:\n  [instance_id]: 3\n", 9,
       "a key must be a plain name"},
      {"a complex key in a list entry",
       "routes:\n  - name: db\n    upstream: {host: h, [port]: 1}\n", 3,
       "a key must be a plain name"},
      {"a complex allowlist name", kGood + "allowlists:\n  [office]: [10.0.0.0/8]\n", 9,
       "an allowlist's name must be plain text"},
      {"a null allowlist name", kGood + "allowlists:\n  ~: [10.0.0.0/8]\n", 9,
       "an allowlist's name must be plain text"},
      {"a duplicate key", "region: a\nregion: b\n", 2, "duplicate key; first given on line 1"},
      {"a duplicate key in a list entry",
       "listeners:\n  - name: pg\n    name: pg2\n    listen: 127.0.0.1:1\n", 3, "duplicate key"},
      {"a duplicate allowlist", kGood + "allowlists:\n  a: [10.0.0.0/8]\n  a: [10.0.0.0/8]\n", 10,
       "duplicate key; first given on line 9"},
      {"an alias key repeating a key", "region: &r region\n*r : b\n", 1, "duplicate key"},
      {"an undefined alias", "region: *nope\n", 1, "YAML syntax error"},
      {"a self-referencing anchor", "region: &x [*x]\n", 1, ""},
      {"deeply nested flow lists", "region: " + nested("[", "]", 100000) + "\n", 1,
       "nested too deeply"},
      {"deeply nested flow mappings", "region: " + nested("{a: ", "}", 100000) + "\n", 1,
       "nested too deeply"},
      {"deeply nested block mappings", indented_maps(600), 0, "nested too deeply"},
      {"deeply nested block lists", "region:\n" + dashes(50000), 0, "nested too deeply"},
      {"many aliases (billion laughs)", billion_laughs(), 1, "unknown key"},
      {"invalid UTF-8", "region: a\nworkers: \xff\xfe\n", 2, "not UTF-8"},
      {"an overlong UTF-8 form", "region: \xc0\xaf\n", 1, "not UTF-8"},
      {"a UTF-8 surrogate", "region: \xed\xa0\x80\n", 1, "not UTF-8"},
      {"a truncated UTF-8 sequence", "region: a\xe2\x82", 1, "not UTF-8"},
      {"UTF-16", std::string("\xff\xfer\0e\0g\0", 8), 1, "not UTF-8"},
      {"a NUL byte", std::string("region: a\nworkers: 1") + '\0' + "zz\n", 2, "NUL byte"},
      {"a NUL escape in a value", "region: \"a\\0b\"\n", 1, "contains a NUL character"},
      {"a NUL escape in a list item", kGood + "public_addresses: [\"127.0.0.1\\0zz\"]\n", 8,
       "contains a NUL character"},
      {"a tab as indentation", "listeners:\n\t- name: pg\n", 2, "YAML syntax error"},
      {"a tab inside a flow list", "region: [a,\tb]\n", 1, "expected a single value"},
      {"a list as the document", "- a\n- b\n", 1, "expected a mapping"},
      {"a scalar as the document", "just text\n", 1, "expected a mapping"},
      {"an unclosed bracket", "region: [a, b\n", 0, "YAML syntax error"},
      {"a second document", "region: a\n...\nregion: b\n", 3, "more than one YAML document"},
      {"a second document after ---", "region: a\n---\nregion: b\n", 3,
       "more than one YAML document"},
      // yaml-cpp 0.7's LoadAll never returned on this (the fuzz target's timeout).
      {"a key starting with a comma", ",shutdown_grace: 1s\n", 0, ""},
      {"an overflowing integer", "workers: 99999999999999999999999\n", 1, "must be 0..256"},
      {"a signed integer", "workers: \"+5\"\n", 1, "is not a whole number"},
      {"an integer with a space", "workers: \" 5\"\n", 1, "is not a whole number"},
      {"a negative integer", "workers: -0x1\n", 1, "is not a whole number"},
      {"an overflowing duration", "shutdown_grace: 99999999999999999999999s\n", 1, "too long"},
      {"an overflowing size",
       kGood + "ingest:\n  listen: 127.0.0.1:1\n  max_batch_bytes: "
               "99999999999999999999999\n",
       10, "too large"},
      {"a host with a NUL", "admin:\n  listen: \"127.0.0.1\\0zz:80\"\n", 2, "contains a NUL"},
      {"a host with a space", "admin:\n  listen: \"127.0.0.1 :80\"\n", 2, "a space"},
      {"a negative port", "admin:\n  listen: \"127.0.0.1:-1\"\n", 2, "port must be 0..65535"},
      {"a port with a plus", "admin:\n  listen: \"127.0.0.1:+80\"\n", 2, "port must be 0..65535"},
      {"a CIDR prefix /-0", kGood + "allowlists:\n  a: [0.0.0.0/-0]\n", 9,
       "prefix length must be a number"},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    load_result res;
    REQUIRE_NOTHROW(res = parse(r.yaml));
    INFO(res.issues.str());
    CHECK_FALSE(res.settings);
    REQUIRE(res.issues.has_errors());
    bool found = false;
    for (const auto& i : res.issues.all()) {
      if (i.warning || i.message.find(r.expected) == std::string::npos)
        continue;
      found = true;
      if (r.line > 0)
        CHECK(i.line == r.line);
      break;
    }
    CHECK(found);
    // Every problem a human reads points somewhere in the file unless the file as a
    // whole is the problem.
    for (const auto& i : res.issues.all())
      CHECK((i.line > 0 || i.path.empty()));
  }
}

TEST_CASE("config: a good file with the hostile rows' neighbours still loads", "[config]") {
  auto r = parse(kGood + "allowlists:\n  office: [10.0.0.0/8]\n");
  INFO(r.issues.str());
  CHECK(r.settings);
  // An anchor and alias used as values (not keys) are fine.
  auto a = parse(kGood + "public_addresses: &pub [203.0.113.10]\nallowlists:\n  x: [10.0.0.0/8]\n");
  INFO(a.issues.str());
  CHECK(a.settings);
}

TEST_CASE("config: files that are too large or not files are refused before reading", "[config]") {
  sluice::test::temp_dir dir;
  {
    std::ofstream big(dir.file("big.yaml"), std::ios::binary);
    std::string line = "# " + std::string(1022, 'x') + "\n";
    for (size_t written = 0; written <= kMaxConfigBytes; written += line.size())
      big << line;
  }
  auto r = load_file(dir.file("big.yaml"), {false});
  CHECK_FALSE(r.settings);
  CHECK_THAT(r.issues.str(), Catch::Contains("is larger than 16 MiB"));
  auto z = load_file("/dev/zero", {false});
  CHECK_THAT(z.issues.str(), Catch::Contains("is larger than 16 MiB"));
  auto d = load_file(dir.path(), {false});
  CHECK_THAT(d.issues.str(), Catch::Contains("it is a directory"));
}
