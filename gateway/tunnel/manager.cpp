// The tunnel manager: owns one thread and io_context on which every libssh2 session and
// loopback forward lives; the public calls below are safe from any thread.
#include "gateway/tunnel/manager.hpp"

#include <sys/socket.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "config/log.hpp"
#include "gateway/tunnel/link.hpp"
#include "gateway/tunnel/loopback_forward.hpp"
#include "gateway/tunnel/tunnel.hpp"

namespace sluice::tunnel {

namespace asio = boost::asio;

namespace {
// Changing these means a different bastion: the tunnel restarts. Everything else (keys,
// host key trust, timeouts, keepalive, backoff, limits) applies to the next connection.
bool same_bastion(const config::tunnel& a, const config::tunnel& b) {
  return a.host == b.host && a.port == b.port && a.user == b.user && a.sessions == b.sessions;
}
}  // namespace

struct manager::impl {
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  std::thread thread;
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<tunnel_runner>> runners;
  std::map<std::string, config::tunnel> configs;
  std::map<std::tuple<std::string, std::string, uint16_t>,
           std::shared_ptr<tunnel::loopback_forward>>
      forwards;
  bool stopped = false;

  std::shared_ptr<tunnel_runner> find(const std::string& name) const {
    std::lock_guard lk(mu);
    auto it = runners.find(name);
    return it == runners.end() ? nullptr : it->second;
  }
};

manager::manager() : impl_(std::make_unique<impl>()) {
  global_init();
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

manager::~manager() {
  stop();
}

void manager::apply(config::settings_ptr s) {
  if (!s)
    return;
  std::lock_guard lk(impl_->mu);
  if (impl_->stopped)
    return;
  std::map<std::string, bool> wanted;
  for (const auto& t : s->tunnels) {
    wanted[t.name] = true;
    auto it = impl_->runners.find(t.name);
    if (it != impl_->runners.end() && same_bastion(impl_->configs[t.name], t)) {
      it->second->update(t);
      impl_->configs[t.name] = t;
      continue;
    }
    if (it != impl_->runners.end()) {
      log::info("tunnel_restart")
          .kv("tunnel", t.name)
          .kv("reason", "bastion host, port, user or sessions changed");
      it->second->stop();
    } else {
      log::info("tunnel_add")
          .kv("tunnel", t.name)
          .kv("bastion", t.host + ":" + std::to_string(t.port));
    }
    auto r = std::make_shared<tunnel_runner>(impl_->ioc, t);
    impl_->runners[t.name] = r;
    impl_->configs[t.name] = t;
    r->start();
  }
  for (auto it = impl_->runners.begin(); it != impl_->runners.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    log::info("tunnel_remove").kv("tunnel", it->first);
    it->second->stop();
    impl_->configs.erase(it->first);
    it = impl_->runners.erase(it);
  }
  for (auto it = impl_->forwards.begin(); it != impl_->forwards.end();) {
    if (wanted.count(std::get<0>(it->first))) {
      ++it;
      continue;
    }
    it->second->stop();
    it = impl_->forwards.erase(it);
  }
}

void manager::stop() {
  std::vector<std::shared_ptr<tunnel_runner>> runners;
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->stopped)
      return;
    impl_->stopped = true;
    for (auto& [_, r] : impl_->runners) {
      r->stop();
      runners.push_back(r);
    }
    for (auto& [_, f] : impl_->forwards)
      f->stop();
    impl_->runners.clear();
    impl_->forwards.clear();
  }
  // Give sessions a moment to say goodbye to their bastions, then end the thread.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (auto& r : runners) {
    while (!r->finished() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  impl_->work.reset();
  impl_->ioc.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

asio::awaitable<channel_result> manager::open_channel(std::string tunnel, std::string host,
                                                      uint16_t port) {
  auto r = impl_->find(tunnel);
  if (!r) {
    std::string known;
    {
      std::lock_guard lk(impl_->mu);
      for (const auto& [name, _] : impl_->runners)
        known += (known.empty() ? "" : ", ") + name;
    }
    co_return channel_result{-1, std::string(to_string(tunnel_stage::unknown_tunnel)),
                             "no tunnel named '" + tunnel + "' is configured" +
                                 (known.empty() ? std::string() : " (tunnels: " + known + ")")};
  }
  try {
    co_return co_await asio::co_spawn(r->executor(), r->open(std::move(host), port, -1),
                                      asio::use_awaitable);
  } catch (const std::exception& e) {
    co_return channel_result{-1, std::string(to_string(tunnel_stage::tunnel_down)),
                             std::string("tunnel error: ") + e.what()};
  }
}

namespace {
// The channel ended before the tunnel could adopt the client: pass on what the database
// sent (its last words, e.g. an ErrorResponse) and close.
void give_up(const std::shared_ptr<handoff>& h) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(h->session_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0 ||
        ::send(h->client_fd, buf, static_cast<size_t>(n), MSG_DONTWAIT | MSG_NOSIGNAL) != n)
      break;
  }
  ::close(h->session_fd);
  ::close(h->client_fd);
  h->finish({false, "the tunnel channel ended during the hand-off"});
}
}  // namespace

void manager::hand_off(const std::string& tunnel, uint64_t channel_id, std::shared_ptr<handoff> h) {
  auto r = impl_->find(tunnel);
  if (!r) {
    give_up(h);
    return;
  }
  // If the tunnel thread stops before running this, the guard still closes the fds and
  // tells the session.
  struct guard {
    std::shared_ptr<handoff> h;
    bool ran = false;
    ~guard() {
      if (!ran)
        give_up(h);
    }
  };
  auto g = std::make_shared<guard>();
  g->h = std::move(h);
  asio::post(r->executor(), [r, channel_id, g] {
    g->ran = true;
    if (!r->adopt(channel_id, g->h))
      give_up(g->h);
  });
}

std::optional<config::host_port> manager::loopback_forward(const std::string& tunnel,
                                                           const std::string& host, uint16_t port,
                                                           std::string& error) {
  std::lock_guard lk(impl_->mu);
  if (!impl_->runners.count(tunnel)) {
    error = "no tunnel named '" + tunnel + "' is configured";
    return std::nullopt;
  }
  const auto key = std::make_tuple(tunnel, host, port);
  if (auto it = impl_->forwards.find(key); it != impl_->forwards.end()) {
    return config::host_port{"127.0.0.1", it->second->port()};
  }
  impl* self = impl_.get();
  auto f = std::make_shared<tunnel::loopback_forward>(
      impl_->ioc, [self, tunnel] { return self->find(tunnel); }, tunnel, host, port);
  if (auto e = f->start(); !e.empty()) {
    error = e;
    return std::nullopt;
  }
  impl_->forwards[key] = f;
  log::info("tunnel_forward")
      .kv("tunnel", tunnel)
      .kv("target", host + ":" + std::to_string(port))
      .kv("listen", "127.0.0.1:" + std::to_string(f->port()));
  return config::host_port{"127.0.0.1", f->port()};
}

nlohmann::json manager::status() const {
  std::vector<std::shared_ptr<tunnel_runner>> runners;
  {
    std::lock_guard lk(impl_->mu);
    for (const auto& [_, r] : impl_->runners)
      runners.push_back(r);
  }
  auto out = nlohmann::json::array();
  for (const auto& r : runners)
    out.push_back(r->status());
  return out;
}

bool manager::all_up() const {
  std::lock_guard lk(impl_->mu);
  for (const auto& [_, r] : impl_->runners) {
    if (!r->up())
      return false;
  }
  return true;
}

}  // namespace sluice::tunnel
