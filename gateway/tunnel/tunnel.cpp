#include "gateway/tunnel/tunnel.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <ctime>
#include <sstream>

#include "config/log.hpp"
#include "gateway/tunnel/status_text.hpp"

namespace sluice::tunnel {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

const char* to_string(tunnel_state s) {
  switch (s) {
    case tunnel_state::connecting:
      return "connecting";
    case tunnel_state::up:
      return "up";
    case tunnel_state::backoff:
      return "backoff";
    case tunnel_state::failed:
      return "failed";
    case tunnel_state::stopped:
      return "stopped";
  }
  return "unknown";
}

tunnel_runner::tunnel_runner(asio::io_context& ioc, config::tunnel cfg)
    : ioc_(ioc),
      cfg_(std::move(cfg)),
      name_(cfg_.name),
      bastion_(cfg_.host + ":" + std::to_string(cfg_.port)),
      stats_(std::make_shared<tunnel_stats>()) {
  slots_.resize(std::max<uint32_t>(cfg_.sessions, 1));
}

void tunnel_runner::start() {
  auto self = shared_from_this();
  loops_ += static_cast<int>(slots_.size());
  asio::post(ioc_, [self] {
    for (size_t i = 0; i < self->slots_.size(); ++i) {
      self->slots_[i].sleep = std::make_shared<waker>(self->ioc_.get_executor());
      asio::co_spawn(self->ioc_, self->slot_loop(i), asio::detached);
    }
  });
}

void tunnel_runner::stop() {
  auto self = shared_from_this();
  asio::post(ioc_, [self] {
    self->stopped_ = true;
    for (auto& s : self->slots_) {
      if (s.session)
        s.session->stop();
      if (s.sleep)
        s.sleep->notify();
    }
    self->wake_waiters();
  });
}

void tunnel_runner::update(config::tunnel cfg) {
  auto self = shared_from_this();
  asio::post(ioc_, [self, cfg = std::move(cfg)] {
    self->cfg_ = cfg;
    for (auto& s : self->slots_) {
      if (s.session)
        s.session->update(cfg);
    }
  });
}

void tunnel_runner::wake_waiters() {
  for (auto& w : up_waiters_)
    w->notify();
}

void tunnel_runner::set_state(size_t i, tunnel_state s) {
  slots_[i].state = s;
  // The tunnel is up when any session is; otherwise it shows the freshest slot state.
  tunnel_state agg = s;
  for (const auto& sl : slots_) {
    if (sl.state == tunnel_state::up)
      agg = tunnel_state::up;
  }
  std::lock_guard lk(mu_);
  if (agg != state_) {
    state_ = agg;
    since_ = std::chrono::system_clock::now();
  }
}

void tunnel_runner::set_error(const tunnel_error& e) {
  std::lock_guard lk(mu_);
  last_error_ = e;
  last_error_at_ = std::chrono::system_clock::now();
}

asio::awaitable<void> tunnel_runner::slot_loop(size_t i) {
  auto self = shared_from_this();
  backoff_schedule backoff(cfg_.reconnect.initial, cfg_.reconnect.max);
  while (!stopped_) {
    if (slots_[i].state != tunnel_state::failed)
      set_state(i, tunnel_state::connecting);
    std::unique_ptr<ssh_link> link;
    tunnel_error err;
    try {
      err = co_await connect_tunnel(cfg_, link, learned_type_);
    } catch (const std::exception& e) {
      err = {tunnel_stage::ssh_handshake, std::string("unexpected error: ") + e.what()};
    }
    if (stopped_)
      break;
    std::chrono::milliseconds delay{0};
    if (!err.empty()) {
      set_error(err);
      const bool needs_operator =
          err.stage == tunnel_stage::host_key || err.stage == tunnel_stage::auth;
      set_state(i, needs_operator ? tunnel_state::failed : tunnel_state::backoff);
      delay = backoff.next();
      log::warn("tunnel_connect_failed")
          .kv("tunnel", cfg_.name)
          .kv("stage", to_string(err.stage))
          .kv("error", err.message)
          .kv("retry_in_ms", static_cast<int64_t>(delay.count()));
    } else {
      backoff.reset();
      auto s = std::make_shared<ssh_session>(std::move(link), cfg_, stats_);
      slots_[i].session = s;
      {
        std::lock_guard lk(mu_);
        host_key_ = s->link().host_key_type + " " + s->link().host_key_fingerprint;
        key_used_ = s->link().key_used;
      }
      ++sessions_up_;
      set_state(i, tunnel_state::up);
      wake_waiters();
      log::info("tunnel_up")
          .kv("tunnel", cfg_.name)
          .kv("bastion", cfg_.host + ":" + std::to_string(cfg_.port))
          .kv("host_key", s->link().host_key_fingerprint)
          .kv("key", s->link().key_used)
          .kv("session", static_cast<uint64_t>(i));
      co_await s->run();
      --sessions_up_;
      slots_[i].session.reset();
      if (stopped_)
        break;
      set_error(s->death());
      {
        std::lock_guard lk(mu_);
        ++reconnects_;
      }
      set_state(i, tunnel_state::backoff);
      delay = backoff.next();
    }
    co_await slots_[i].sleep->wait_until(clock::now() + delay);
  }
  set_state(i, tunnel_state::stopped);
  --loops_;
}

asio::awaitable<channel_result> tunnel_runner::open(std::string host, uint16_t port, int local_fd) {
  auto self = shared_from_this();
  auto ex = ioc_.get_executor();
  const auto where = host + ":" + std::to_string(port);
  auto fail = [&](tunnel_stage stage, std::string msg) {
    if (local_fd >= 0)
      ::close(local_fd);
    return channel_result{-1, std::string(to_string(stage)), std::move(msg)};
  };
  const auto up_deadline = clock::now() + cfg_.wait_for_up;
  while (!stopped_ && !up()) {
    if (clock::now() >= up_deadline) {
      tunnel_error e;
      {
        std::lock_guard lk(mu_);
        e = last_error_;
      }
      const std::string state = [&] {
        std::lock_guard lk(mu_);
        return std::string(to_string(state_));
      }();
      co_return fail(e.empty() ? tunnel_stage::tunnel_down : e.stage,
                     "tunnel '" + cfg_.name + "' to bastion " + cfg_.host + ":" +
                         std::to_string(cfg_.port) + " is not up (" + state + ") after waiting " +
                         secs(cfg_.wait_for_up) + (e.empty() ? std::string() : ": " + e.message));
    }
    auto w = std::make_shared<waker>(ex);
    up_waiters_.push_back(w);
    co_await w->wait_until(up_deadline);
    up_waiters_.erase(std::remove(up_waiters_.begin(), up_waiters_.end(), w), up_waiters_.end());
  }
  if (stopped_)
    co_return fail(tunnel_stage::tunnel_down, "tunnel '" + cfg_.name + "' was stopped or removed");
  std::shared_ptr<ssh_session> best;
  size_t total = 0;
  for (auto& s : slots_) {
    if (!s.session || !s.session->alive())
      continue;
    total += s.session->channel_count();
    if (!best || s.session->channel_count() < best->channel_count())
      best = s.session;
  }
  if (!best)
    co_return fail(tunnel_stage::tunnel_down, "tunnel '" + cfg_.name + "' has no live SSH session");
  if (total >= cfg_.max_channels) {
    co_return fail(tunnel_stage::channel_open,
                   "tunnel '" + cfg_.name + "' already has max_channels=" +
                       std::to_string(cfg_.max_channels) + " channels open");
  }
  int theirs = -1;
  if (local_fd < 0) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      co_return fail(tunnel_stage::channel_open,
                     std::string("socketpair: ") + std::strerror(errno));
    }
    local_fd = fds[0];
    theirs = fds[1];
  }
  static std::atomic<uint64_t> next_channel_id{1};
  auto req = std::make_shared<open_request>();
  req->id = next_channel_id.fetch_add(1);
  req->host = host;
  req->port = port;
  req->local_fd = local_fd;
  local_fd = -1;  // the session owns it now
  req->w = std::make_shared<waker>(ex);
  best->enqueue(req);
  const auto deadline = clock::now() + cfg_.connect_timeout;
  while (!req->done) {
    if (clock::now() >= deadline) {
      req->abandoned = true;
      if (theirs >= 0)
        ::close(theirs);
      co_return channel_result{-1, std::string(to_string(tunnel_stage::channel_open)),
                               "bastion " + cfg_.host + ":" + std::to_string(cfg_.port) +
                                   " did not answer the channel open to " + where + " within " +
                                   secs(cfg_.connect_timeout) +
                                   " (the bastion may be trying to reach a host that drops "
                                   "packets)"};
    }
    co_await req->w->wait_until(deadline);
  }
  if (!req->error.empty()) {
    if (theirs >= 0)
      ::close(theirs);
    co_return channel_result{-1, std::string(to_string(req->error.stage)), req->error.message};
  }
  co_return channel_result{theirs, "", "", req->id};
}

bool tunnel_runner::adopt(uint64_t id, const std::shared_ptr<handoff>& h) {
  for (auto& s : slots_) {
    if (s.session && s.session->adopt(id, h))
      return true;
  }
  return false;
}

nlohmann::json tunnel_runner::status() const {
  std::lock_guard lk(mu_);
  nlohmann::json j{
      {"name", name_},
      {"bastion", bastion_},
      {"state", to_string(state_)},
      {"since", iso8601(since_)},
      {"last_error", last_error_.message},
      {"last_error_stage",
       last_error_.empty() ? std::string() : std::string(to_string(last_error_.stage))},
      {"last_error_at", last_error_.empty() ? std::string() : iso8601(last_error_at_)},
      {"open_channels", stats_->open_channels.load()},
      {"channels_opened", stats_->channels_opened.load()},
      {"channels_handed_off", stats_->channels_handed_off.load()},
      {"bytes_in", stats_->bytes_in.load()},
      {"bytes_out", stats_->bytes_out.load()},
      {"reconnects", reconnects_},
      {"sessions", slots_.size()},
      {"sessions_up", sessions_up_.load()},
      {"host_key", host_key_},
      {"key", key_used_},
  };
  return j;
}

}  // namespace sluice::tunnel
