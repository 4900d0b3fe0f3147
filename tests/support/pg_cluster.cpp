#include "tests/support/pg_cluster.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

namespace sluice::test {

namespace {

const std::string kBin = "/usr/lib/postgresql/15/bin/";

// "-scram": the template before this one had local trust and a fixed password; a new
// name keeps the two apart while checkouts of either kind share the machine.
std::string template_dir() {
  const char* base = std::getenv("TMPDIR");
  return std::string(base && *base ? base : "/tmp") + "/sluice-pg15-scram-template";
}

// The superuser's password, beside the template; written last, so it also marks a
// template whose initdb finished.
std::string password_file() {
  return template_dir() + ".password";
}

void check(const run_result& r, const std::string& what) {
  if (r.exit_code != 0) {
    throw std::runtime_error(what + " failed (exit " + std::to_string(r.exit_code) + "):\n" +
                             r.output);
  }
}

std::string as_postgres(const std::string& cmd) {
  return running_as_root() ? "runuser -u postgres -- /bin/sh -c " + shell_quote(cmd) : cmd;
}

// 128 random bits, hex: nothing a test or a stray local process could guess.
std::string random_password() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 32; ++i)
    out += "0123456789abcdef"[rd() & 15];
  return out;
}

// One initdb per machine, shared by every test through a locked template. The superuser
// logs in with scram-sha-256 everywhere, the Unix socket included.
void ensure_template() {
  const std::string tmpl = template_dir();
  // Closing the descriptor releases the lock, also when initdb throws.
  struct file_lock {
    int fd;
    ~file_lock() { close(fd); }
  } lock{open((tmpl + ".lock").c_str(), O_CREAT | O_RDWR, 0666)};
  flock(lock.fd, LOCK_EX);
  if (!std::filesystem::exists(tmpl + "/PG_VERSION") || !std::filesystem::exists(password_file())) {
    std::filesystem::remove_all(tmpl);
    std::filesystem::create_directories(tmpl);
    const std::string pw = random_password();
    temp_dir scratch("sluice-pg-init");
    // initdb runs as postgres and must read it; the directory goes when initdb is done.
    const std::string pwfile = scratch.write("pw", pw, 0644);
    if (running_as_root())
      run("chown postgres:postgres " + tmpl);
    check(run(as_postgres(kBin + "initdb -D " + tmpl + " -U " + pg_cluster::kSuperuser +
                          " --pwfile=" + pwfile +
                          " --auth-local=scram-sha-256 --auth-host=scram-sha-256"
                          " -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null"),
              std::chrono::seconds(120)),
          "initdb");
    std::ofstream(password_file() + ".new") << pw;
    std::filesystem::permissions(password_file() + ".new", std::filesystem::perms::owner_read |
                                                               std::filesystem::perms::owner_write);
    std::filesystem::rename(password_file() + ".new", password_file());
  }
}

}  // namespace

bool running_as_root() {
  return geteuid() == 0;
}

const std::string& pg_cluster::password() {
  static const std::string pw = [] {
    ensure_template();
    return read_file(password_file());
  }();
  return pw;
}

pg_cluster::pg_cluster(pg_options opts) {
  // 1. The machine's template (made once).
  ensure_template();
  const std::string tmpl = template_dir();
  // 2. This cluster: a copy of the template with its own port and settings.
  data_ = dir_.path() + "/data";
  check(run("cp -a " + tmpl + " " + data_), "copy template");
  port_ = free_port();
  std::string conf = "port = " + std::to_string(port_) +
                     "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '" + dir_.path() +
                     "'\nfsync = off\nsynchronous_commit = off\n" +
                     "full_page_writes = off\nmax_connections = 200\nshared_buffers = 64MB\n";
  if (opts.ssl) {
    run("cp " + opts.cert + " " + data_ + "/server.crt && cp " + opts.key + " " + data_ +
        "/server.key && chmod 600 " + data_ + "/server.key");
    conf += "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n";
    if (!opts.ca.empty()) {
      run("cp " + opts.ca + " " + data_ + "/root.crt");
      conf += "ssl_ca_file = 'root.crt'\n";
    }
  }
  for (const auto& c : opts.conf)
    conf += c + "\n";
  dir_.write("data/postgresql.auto.conf", conf, 0600);
  // The fixture's own admin connections come over the socket, with the password.
  std::string hba = "local all all scram-sha-256\n";
  if (opts.hba.empty()) {
    hba += "host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n";
  } else {
    for (const auto& h : opts.hba)
      hba += h + "\n";
  }
  dir_.write("data/pg_hba.conf", hba, 0600);
  if (running_as_root())
    run("chown -R postgres:postgres " + dir_.path());
  start();
}

pg_cluster::~pg_cluster() {
  try {
    stop("immediate");
  } catch (...) {
  }
}

void pg_cluster::start() {
  check(run(as_postgres(kBin + "pg_ctl -D " + data_ + " -l " + dir_.path() +
                        "/postgres.log -w -t 60 start >/dev/null"),
            std::chrono::seconds(90)),
        "pg_ctl start (log: " + log() + ")");
  running_ = true;
}

void pg_cluster::stop(const char* mode) {
  if (!running_)
    return;
  run(as_postgres(kBin + "pg_ctl -D " + data_ + " -m " + mode + " -w -t 60 stop >/dev/null"),
      std::chrono::seconds(90));
  running_ = false;
}

std::string pg_cluster::log() const {
  return read_file(dir_.path() + "/postgres.log");
}

std::string pg_cluster::superuser_conninfo(const std::string& db) const {
  // Quoted (libpq's way) only when it must be, so the string also fits in '...' for sh.
  std::string value = db;
  if (db.empty() || db.find_first_of(" '\\") != std::string::npos) {
    value = "'";
    for (char c : db) {
      if (c == '\\' || c == '\'')
        value += '\\';
      value += c;
    }
    value += "'";
  }
  return "host=" + dir_.path() + " port=" + std::to_string(port_) + " user=" + kSuperuser +
         " dbname=" + value + " password=" + password();
}

run_result pg_cluster::psql(const std::string& sql, const std::string& db) const {
  return run("PGPASSWORD=" + shell_quote(password()) + " psql -X -h " + dir_.path() + " -p " +
             std::to_string(port_) + " -U " + kSuperuser + " -d " + shell_quote(db) +
             " -v ON_ERROR_STOP=1 -Atq -c " + shell_quote(sql));
}

std::string pg_cluster::sql(const std::string& sql, const std::string& db) const {
  auto r = psql(sql, db);
  check(r, "psql: " + sql);
  while (!r.output.empty() && r.output.back() == '\n')
    r.output.pop_back();
  return r.output;
}

test_pki::test_pki(const std::string& dir, std::vector<std::string> extra_names) : dir_(dir) {
  ca_cert = dir + "/ca.crt";
  ca_key = dir + "/ca.key";
  check(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 "
            "-subj '/CN=sluice test CA' -keyout " +
            ca_key + " -out " + ca_cert + " && chmod 600 " + ca_key),
        "make CA");
  std::vector<std::string> names = {"localhost"};
  names.insert(names.end(), extra_names.begin(), extra_names.end());
  auto [c, k] = issue("server", names);
  server_cert = c;
  server_key = k;
  client_cert = dir + "/client.crt";
  client_key = dir + "/client.key";
  check(run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "
            "'/CN=client' -keyout " +
            client_key + " -out " + dir +
            "/client.csr && openssl x509 "
            "-req -in " +
            dir + "/client.csr -CA " + ca_cert + " -CAkey " + ca_key +
            " -CAcreateserial -days 30 -out " + client_cert + " && chmod 600 " + client_key),
        "make client cert");
}

std::pair<std::string, std::string> test_pki::issue(const std::string& base,
                                                    const std::vector<std::string>& names) const {
  std::string crt = dir_ + "/" + base + ".crt", key = dir_ + "/" + base + ".key";
  std::string san = "subjectAltName=IP:127.0.0.1";
  for (const auto& n : names)
    san += ",DNS:" + n;
  std::string ext = dir_ + "/" + base + ".ext";
  run("printf '%s\\n' " + shell_quote(san) + " > " + ext);
  check(run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=" +
            names.front() + "' -keyout " + key + " -out " + dir_ + "/" + base +
            ".csr && openssl x509 -req -in " + dir_ + "/" + base + ".csr -CA " + ca_cert +
            " -CAkey " + ca_key + " -CAcreateserial -days 30 -extfile " + ext + " -out " + crt +
            " && chmod 600 " + key),
        "issue certificate " + base);
  return {crt, key};
}

}  // namespace sluice::test
