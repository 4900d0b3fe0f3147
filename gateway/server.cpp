#include "gateway/server.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <stdexcept>

#include "config/log.hpp"
#include "gateway/session/session.hpp"

namespace sluice::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

tcp::endpoint resolve_bind(const config::host_port& hp) {
  error_code ec;
  std::string host = hp.host == "*" ? "0.0.0.0" : hp.host;
  auto addr = net::ip::make_address(host, ec);
  if (ec) {
    // A name (e.g. localhost): resolve once at bind time.
    net::io_context ioc;
    tcp::resolver r(ioc);
    auto results = r.resolve(host, std::to_string(hp.port), ec);
    if (ec || results.empty())
      throw std::runtime_error("cannot resolve listen address " + hp.str());
    return *results.begin();
  }
  return {addr, hp.port};
}

}  // namespace

server::server(runtime_ptr initial, tunnel::manager* tunnels)
    : current_(std::move(initial)),
      tunnels_(tunnels),
      cancels_(current_->settings->cancel.instance_id),
      services_{&cancels_, tunnels_, &pools_, &budget_, &drains_} {
  unsigned n = current_->settings->workers;
  if (n == 0)
    n = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<worker>(i));
  pools_.apply(*current_->settings);
}

server::~server() {
  stop();
}

void server::start() {
  for (const auto& l : current_->settings->listeners) {
    auto bl = std::make_unique<bound_listener>();
    bl->name = l.name;
    auto ep = resolve_bind(l.listen);
    for (auto& w : workers_) {
      auto a = std::make_unique<tcp::acceptor>(w->ioc);
      error_code ec;
      a->open(ep.protocol(), ec);
      if (!ec)
        a->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) {
        int one = 1;
        if (::setsockopt(a->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
          ec = error_code(errno, boost::system::system_category());
        }
      }
      if (!ec && ep.address().is_v6())
        a->set_option(net::ip::v6_only(false), ec);
      if (!ec)
        a->bind(ep, ec);
      if (!ec)
        a->listen(4096, ec);
      if (ec) {
        throw std::runtime_error("listener '" + l.name + "': cannot listen on " +
                                 ep.address().to_string() + ":" + std::to_string(ep.port()) + ": " +
                                 ec.message());
      }
      // Port 0: the first acceptor picks the port; the others share it.
      if (ep.port() == 0)
        ep.port(a->local_endpoint().port());
      bl->port = ep.port();
      bl->acceptors.push_back(std::move(a));
    }
    log::info("listening")
        .kv("listener", l.name)
        .kv("address", ep.address().to_string())
        .kv("port", static_cast<unsigned>(bl->port))
        .kv("workers", static_cast<unsigned>(workers_.size()));
    listeners_.push_back(std::move(bl));
  }
  for (auto& bl : listeners_) {
    for (size_t i = 0; i < workers_.size(); ++i)
      accept_loop(*workers_[i], *bl, *bl->acceptors[i]);
  }
  reaper_ = std::make_unique<net::steady_timer>(workers_[0]->ioc);
  reap_pools();
  for (auto& w : workers_) {
    threads_.emplace_back([wp = w.get()] {
      auto guard = net::make_work_guard(wp->ioc);
      wp->ioc.run();
    });
  }
}

void server::reap_pools() {
  reaper_->expires_after(std::chrono::seconds(1));
  reaper_->async_wait([this](error_code ec) {
    if (ec)
      return;
    pools_.reap();
    reap_pools();
  });
}

void server::accept_loop(worker& w, bound_listener& bl, tcp::acceptor& acceptor) {
  net::co_spawn(
      w.ioc,
      [this, &w, &bl, &acceptor]() -> net::awaitable<void> {
        for (;;) {
          error_code ec;
          tcp::socket sock =
              co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
          if (ec == net::error::operation_aborted || !acceptor.is_open())
            co_return;
          if (ec) {
            // EMFILE and friends: back off briefly rather than spin.
            log::warn("accept_failed").kv("listener", bl.name).kv("error", ec.message());
            net::steady_timer t(w.ioc, std::chrono::milliseconds(100));
            co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
            continue;
          }
          admit_accepted(w, bl, std::move(sock));
        }
      },
      net::detached);
}

void server::admit_accepted(worker& w, bound_listener& bl, tcp::socket sock) {
  w.counters.accepted.fetch_add(1, std::memory_order_relaxed);
  ++w.stats.accepted[bl.name];
  auto rt = current();
  const auto* lr = rt->listener(bl.name);
  if (!lr)
    return;  // listener removed by a reload: restart required to unbind
  if (bl.active->load(std::memory_order_relaxed) >= lr->cfg->max_connections) {
    w.counters.rejected.fetch_add(1, std::memory_order_relaxed);
    ++w.stats.closed[{bl.name, std::string(to_string(close_reason::max_connections))}];
    auto bytes = pg::encode_error({"FATAL",
                                   "53300",
                                   "sorry, too many clients already (listener \"" + bl.name +
                                       "\" max_connections " +
                                       std::to_string(lr->cfg->max_connections) + ")",
                                   {},
                                   {}});
    error_code ignored;
    sock.non_blocking(true, ignored);
    sock.write_some(net::buffer(bytes), ignored);
    auto peer = sock.remote_endpoint(ignored);
    log::notice("connection_rejected")
        .kv("listener", bl.name)
        .kv("peer", peer.address().to_string() + ":" + std::to_string(peer.port()))
        .kv("reason", to_string(close_reason::max_connections));
    return;
  }
  session_env env{&w, bl.active.get(), &services_};
  std::make_shared<session>(std::move(sock), std::move(rt), bl.name, env,
                            next_id_.fetch_add(1, std::memory_order_relaxed))
      ->start();
}

void server::apply(runtime_ptr next) {
  std::atomic_store(&current_, next);
  pools_.apply(*next->settings);
  for (auto& w : workers_) {
    net::post(w->ioc, [wp = w.get(), next] {
      // Copy: terminate() may end sessions, which erase themselves from the set.
      std::vector<std::weak_ptr<session>> all;
      for (auto* s : wp->sessions)
        all.push_back(s->weak_from_this());
      for (auto& weak : all) {
        if (auto s = weak.lock())
          s->on_reload(next);
      }
    });
  }
}

metrics server::collect_metrics() {
  metrics total;
  for (auto& w : workers_) {
    // Copy on the worker's own thread; a stopped worker is read directly (no writer left).
    std::promise<metrics> copy;
    auto fut = copy.get_future();
    net::post(w->ioc, [wp = w.get(), &copy] {
      metrics m = wp->stats;
      // Open sessions count too, so a route's bytes grow while its sessions run rather
      // than all at once when they close (a session is either in this set or published).
      for (const auto* s : wp->sessions) {
        const auto& r = s->record();
        if (r.route.empty())
          continue;
        auto& t = m.routes[r.route];
        ++t.active;
        t.bytes_client_to_server += r.bytes_in;
        t.bytes_server_to_client += r.bytes_out;
      }
      copy.set_value(std::move(m));
    });
    if (fut.wait_for(std::chrono::seconds(2)) == std::future_status::ready) {
      total.merge(fut.get());
    }
  }
  return total;
}

std::vector<session_info> server::sessions() {
  std::vector<session_info> out;
  for (auto& w : workers_) {
    auto copy = std::make_shared<std::promise<std::vector<session_info>>>();
    auto fut = copy->get_future();
    net::post(w->ioc, [wp = w.get(), copy] {
      std::vector<session_info> mine;
      for (auto* s : wp->sessions)
        mine.push_back(s->info());
      copy->set_value(std::move(mine));
    });
    if (fut.wait_for(std::chrono::seconds(2)) == std::future_status::ready) {
      auto mine = fut.get();
      out.insert(out.end(), std::make_move_iterator(mine.begin()),
                 std::make_move_iterator(mine.end()));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

bool server::kill(uint64_t id) {
  for (auto& w : workers_) {
    auto found = std::make_shared<std::promise<bool>>();
    auto fut = found->get_future();
    net::post(w->ioc, [wp = w.get(), id, found] {
      for (auto* s : wp->sessions) {
        if (s->id() != id)
          continue;
        // Keep it alive across terminate(), which may end it.
        if (auto self = s->weak_from_this().lock()) {
          self->terminate(close_reason::killed, "57P01",
                          "terminating connection due to administrator command (sluice ctl "
                          "kill " +
                              std::to_string(id) + ")");
          found->set_value(true);
          return;
        }
      }
      found->set_value(false);
    });
    if (fut.wait_for(std::chrono::seconds(2)) == std::future_status::ready && fut.get())
      return true;
  }
  return false;
}

bool server::set_drained(drains::kind k, const std::string& name, bool drained) {
  auto rt = current();
  bool known =
      k == drains::kind::route ? rt->route(name) != nullptr : rt->listener(name) != nullptr;
  if (!known)
    return false;
  drains_.set(k, name, drained);
  log::notice(drained ? "drain_started" : "drain_resumed")
      .kv(k == drains::kind::route ? "route" : "listener", name);
  return true;
}

uint64_t server::active_sessions() const {
  uint64_t n = 0;
  for (const auto& w : workers_)
    n += w->active.load(std::memory_order_relaxed);
  return n;
}

uint16_t server::bound_port(const std::string& listener) const {
  for (const auto& bl : listeners_) {
    if (bl->name == listener)
      return bl->port;
  }
  return 0;
}

void server::drain(std::chrono::milliseconds grace) {
  if (!accepting_.exchange(false))
    return;
  // 1. Stop accepting everywhere (on each acceptor's own thread). Connections already
  // in an acceptor's queue are taken first: closing a listening socket resets them, and
  // during an upgrade (SO_REUSEPORT) the new process takes only those that come later.
  for (auto& bl : listeners_) {
    for (size_t i = 0; i < workers_.size(); ++i) {
      net::post(workers_[i]->ioc,
                [this, w = workers_[i].get(), b = bl.get(), a = bl->acceptors[i].get()] {
                  error_code ec;
                  a->non_blocking(true, ec);
                  while (!ec) {
                    tcp::socket sock(w->ioc);
                    a->accept(sock, ec);
                    if (!ec)
                      admit_accepted(*w, *b, std::move(sock));
                  }
                  error_code ignored;
                  a->close(ignored);
                });
    }
  }
  // Idle pooled backends close now; those in use close when their client leaves.
  pools_.drain();
  log::notice("draining")
      .kv("sessions", active_sessions())
      .kv("grace_ms", static_cast<int64_t>(grace.count()));
  // 2. Let open sessions (and their transactions) finish.
  auto until = std::chrono::steady_clock::now() + grace;
  while (active_sessions() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // 3. Terminate the rest, telling clients why where the stream allows it.
  if (auto left = active_sessions(); left > 0) {
    log::notice("drain_timeout").kv("sessions", left);
    for (auto& w : workers_) {
      net::post(w->ioc, [wp = w.get()] {
        std::vector<std::weak_ptr<session>> all;
        for (auto* s : wp->sessions)
          all.push_back(s->weak_from_this());
        for (auto& weak : all) {
          if (auto s = weak.lock()) {
            s->terminate(close_reason::shutdown, "57P01",
                         "terminating connection: sluice is shutting down");
          }
        }
      });
    }
    auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (active_sessions() > 0 && std::chrono::steady_clock::now() < hard) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

void server::stop() {
  for (auto& w : workers_)
    w->ioc.stop();
  for (auto& t : threads_) {
    if (t.joinable())
      t.join();
  }
  threads_.clear();
}

}  // namespace sluice::gateway
