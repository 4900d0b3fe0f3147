#include "gateway/cli/doctor/reach.hpp"

#include <memory>
#include <thread>
#include <vector>

#include "gateway/cli/doctor/network.hpp"
#include "gateway/tunnel/rsa_check.hpp"

namespace sluice::doctor {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

std::string public_hint(const config::settings& s) {
  return s.public_addresses.empty()
             ? "the gateway's egress address (set public_addresses: in the config so this "
               "message can name it)"
             : "the gateway's public addresses " + join(s.public_addresses);
}

}  // namespace

int reach(const config::settings& s, const std::string& what, const std::string& host,
          uint16_t port, std::chrono::milliseconds timeout, report& out, std::string* connected) {
  auto r = resolve(host);
  if (!r.error.empty() || r.addresses.empty())
    return out.fail("DNS", "cannot resolve " + host + ": " + r.error,
                    "the name " + host +
                        " does not resolve from the gateway (typo, a private "
                        "DNS zone the gateway cannot see, or a record not created yet)",
                    "fix the host in " + what + ", or use an address; check with `getent hosts " +
                        host + "` on the gateway"),
           -1;
  out.pass("DNS", host + " -> " + join(r.addresses));
  std::string last;
  for (const auto& addr : r.addresses) {
    auto t = tcp_connect(addr, port, timeout);
    std::string where = addr + ":" + std::to_string(port);
    if (t.outcome == tcp_outcome::connected) {
      if (connected)
        *connected = addr;
      out.pass("TCP", "connected to " + where);
      return t.fd;
    }
    if (&addr != &r.addresses.back())
      continue;  // try the next address; report the last one's failure
    if (t.outcome == tcp_outcome::timeout)
      return out.fail("TCP", "connecting to " + where + ": " + t.error,
                      "nothing answered: a firewall, security group or route drops the packets "
                      "between the gateway and " +
                          host,
                      "allow inbound TCP " + std::to_string(port) + " from " + public_hint(s) +
                          " on the database side (security group / firewall / NACL)"),
             -1;
    if (t.outcome == tcp_outcome::refused)
      return out.fail("TCP", "connecting to " + where + ": connection refused",
                      "the host answered but nothing listens on port " + std::to_string(port) +
                          " (wrong host or port, or the server is down / listen_addresses "
                          "excludes this interface)",
                      what.rfind("tunnel ", 0) == 0
                          ? "check host and port in " + what +
                                " against the bastion's sshd (Port in sshd_config; is sshd "
                                "running?)"
                          : "check host and port in " + what +
                                " against the server's port and listen_addresses"),
             -1;
    return out.fail("TCP", "connecting to " + where + ": " + t.error,
                    "the gateway has no route to " + addr,
                    "check the gateway's routing/VPC peering to " + host +
                        ", or reach it "
                        "through an SSH tunnel (upstream.via)"),
           -1;
  }
  return -1;
}

bool ssh_stage(const config::settings& s, const config::tunnel& t, tunnel::manager& mgr,
               report& out) {
  auto only = std::make_shared<config::settings>();
  only->region = s.region;
  only->public_addresses = s.public_addresses;
  only->tunnels.push_back(t);
  mgr.apply(only);
  auto deadline =
      std::chrono::steady_clock::now() + t.connect_timeout * 2 + std::chrono::seconds(5);
  nlohmann::json st;
  while (std::chrono::steady_clock::now() < deadline) {
    auto all = mgr.status();
    st = all.empty() ? nlohmann::json::object() : all[0];
    if (st.value("state", "") == "up")
      break;
    if (!st.value("last_error_stage", "").empty())
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string where = "tunnel " + t.name;
  if (st.value("state", "") == "up")
    return out.pass("SSH", "logged in to " + t.user + "@" + t.host + ":" + std::to_string(t.port) +
                               " (host key " + st.value("host_key", "?") + ", key " +
                               st.value("key", "?") + ")");
  std::string stage = st.value("last_error_stage", "");
  std::string err = st.value("last_error", "no answer before the deadline");
  if (stage == "host-key")
    return out.fail("SSH", err,
                    "the bastion's host key is not the one pinned for " + where +
                        " (the server was rebuilt, the pin is wrong, or someone is in the middle)",
                    "confirm the fingerprint with the bastion's owner (`ssh-keygen -lf "
                    "/etc/ssh/ssh_host_ed25519_key.pub` on the bastion), then set host_key: or "
                    "known_hosts: in " +
                        where);
  if (stage == "auth")
    return out.fail("SSH", err, "the bastion refused sluice's key for user " + t.user,
                    "add the output of `sluice tunnel pubkey -c CONFIG " + t.name + "` to ~" +
                        t.user + "/.ssh/authorized_keys on " + t.host +
                        " (check the user name and that sshd allows publickey)");
  if (stage == "ssh-handshake" &&
      err.find("none of the trusted host key types") != std::string::npos)
    return out.fail("SSH", err,
                    "the bastion offers no host key type libssh2 can verify against the pin; "
                    "with OpenSSH 8.8+ this is usually a pinned RSA key",
                    tunnel::rsa_host_key_fix(t.host, t.port));
  if (stage == "ssh-handshake")
    return out.fail("SSH", err,
                    "the port answers but the SSH handshake failed (not an SSH server, or no "
                    "common key exchange/host key algorithm)",
                    "check that " + t.host + ":" + std::to_string(t.port) +
                        " is the bastion's sshd; OpenSSH 7.4 or newer is known to work");
  return out.fail("SSH", (stage.empty() ? "" : stage + ": ") + err, "the tunnel did not come up",
                  "see the message; `sluice tunnel status` shows "
                  "the same state on a running gateway");
}

}  // namespace sluice::doctor
