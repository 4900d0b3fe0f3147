// TLS as managed databases configure it: a Cloud-SQL-like `hostssl ... clientcert`
// line that wants a client certificate from a direct destination, a server that only
// accepts TLS, a certificate for another name. Every hint names the real cause and a
// key the sync really has.
#include <catch2/catch.hpp>

#include "sync/service.hpp"
#include "sync_fixture.hpp"

using namespace sluice::test;
using json = nlohmann::json;

namespace {

run_result doctor(const std::string& cfg) {
  return run(std::string(kSluiceBin) + " doctor -c " + cfg + " sync acme");
}

run_result verify(const std::string& cfg) {
  return run(std::string(kSluiceBin) + " sync verify acme -c " + cfg);
}

}  // namespace

TEST_CASE("tls: a direct destination with a client certificate (Cloud SQL style)",
          "[sync][integration][tls]") {
  temp_dir pki_dir{"sluice-pki"};
  test_pki pki{pki_dir.path()};
  auto o = ssl_on(pki);
  o.ca = pki.ca_cert;  // the server checks client certificates against it
  o.hba = {"hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-ca"};
  sync_env env(o);
  env.prepare_database();
  env.sslmode = "verify-full";
  env.destination_extra = "      ca: " + pki.ca_cert + "\n";
  auto without = env.config_path();

  auto v = verify(without);
  INFO(v.output);
  CHECK(v.exit_code == 1);
  CHECK(v.output.find("sluice doctor sync acme") != std::string::npos);
  auto d = doctor(without);
  INFO(d.output);
  CHECK(d.exit_code == 1);
  CHECK(d.output.find("client certificate") != std::string::npos);
  CHECK(d.output.find("destination.cert and destination.key") != std::string::npos);
  CHECK(d.output.find("tls.sslmode") == std::string::npos);

  env.destination_extra +=
      "      cert: " + pki.client_cert + "\n      key: " + pki.client_key + "\n";
  auto with = env.config_path();
  auto ok = verify(with);
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  auto doc = doctor(with);
  INFO(doc.output);
  CHECK(doc.exit_code == 0);

  sluice::sync::service svc(nullptr);
  svc.start(env.settings());
  auto r = env.post(ndjson({{{"collection", "customer"},
                             {"id", "c1"},
                             {"op", "upsert"},
                             {"version", 1},
                             {"data", {{"name", "a"}}}}}),
                    1);
  INFO(r.body);
  CHECK(r.status == 200);
  CHECK(env.app("select count(*) from pg_stat_ssl s join pg_stat_activity a using (pid) where "
                "a.usename = 'sync_user' and s.client_dn like '%CN=client%'") != "0");
}

TEST_CASE("tls: doctor's hints match the real cause and name the sync's keys",
          "[sync][integration][tls]") {
  temp_dir pki_dir{"sluice-pki"};
  test_pki pki{pki_dir.path()};

  SECTION("a server that requires TLS (hostnossl reject) and sslmode disable") {
    auto o = ssl_on(pki);
    o.hba = {"hostnossl all all 0.0.0.0/0 reject", "hostssl all all 127.0.0.1/32 scram-sha-256"};
    sync_env env(o);
    env.prepare_database();
    env.sslmode = "disable";
    auto d = doctor(env.config_path());
    INFO(d.output);
    CHECK(d.exit_code == 1);
    CHECK(d.output.find("only over TLS") != std::string::npos);
    CHECK(d.output.find("destination.sslmode: require") != std::string::npos);
    CHECK(d.output.find("above the reject line") == std::string::npos);
    CHECK(d.output.find("tls.sslmode") == std::string::npos);
  }
  SECTION("a certificate for another host name, with the right CA") {
    auto [cert, key] = pki.issue("other", {"db.other.test"});
    pg_options o;
    o.ssl = true;
    o.cert = cert;
    o.key = key;
    sync_env env(o);
    env.prepare_database();
    env.sslmode = "verify-full";
    env.destination_extra = "      ca: " + pki.ca_cert + "\n";
    auto cfg = env.config_path();
    // Reach it as "localhost", a name the certificate does not carry.
    auto text = read_file(cfg);
    auto at = text.find("host: 127.0.0.1");
    REQUIRE(at != std::string::npos);
    text.replace(at, 15, "host: localhost");
    cfg = env.dir.write("sluice.yaml", text, 0600);
    auto d = doctor(cfg);
    INFO(d.output);
    CHECK(d.exit_code == 1);
    // doctor checks a sync the writer's way (libpq), so libpq words the mismatch; the
    // cause line is doctor's own.
    CHECK(d.output.find("does not match host name \"localhost\"") != std::string::npos);
    CHECK(d.output.find("the server's certificate names another host") != std::string::npos);
    CHECK(d.output.find("destination.host") != std::string::npos);
    CHECK(d.output.find("not signed by") == std::string::npos);
    CHECK(d.output.find("tls.ca") == std::string::npos);
    CHECK(d.output.find("upstream.") == std::string::npos);
  }
}
