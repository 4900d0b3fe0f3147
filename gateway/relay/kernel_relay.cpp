#include "gateway/relay/kernel_relay.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "config/log.hpp"
#include "sockmap_relay.skel.h"  // generated at build time (gateway/CMakeLists.txt)

namespace sluice::gateway {

namespace {

constexpr uint32_t kSlots = 32768 * 2;  // RELAY_SLOTS * 2 in the BPF source

// libbpf prints its own diagnostics; the reason we log is the one that matters.
int quiet(enum libbpf_print_level, const char*, va_list) {
  return 0;
}

std::string errno_text(const char* what, int err) {
  std::string s = std::string(what) + ": " + std::strerror(err);
  if (err == EPERM || err == EACCES)
    s += " (needs CAP_BPF and CAP_NET_ADMIN, or root; see systemd/sluice.service)";
  return s;
}

uint64_t cookie_of(int fd, int& err) {
  uint64_t c = 0;
  socklen_t len = sizeof c;
  err = getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len) == 0 ? 0 : errno;
  return c;
}

}  // namespace

kernel_relay* kernel_relay::get() {
  static kernel_relay* instance = [] {
    auto* k = new kernel_relay();
    std::string why;
    if (!k->load(why)) {
      log::warn("kernel_relay_unavailable")
          .kv("reason", why)
          .kv("effect", "relay: kernel falls back to the user-space copy relay");
      delete k;
      return static_cast<kernel_relay*>(nullptr);
    }
    log::info("kernel_relay_loaded").kv("slots", kSlots / 2);
    return k;
  }();
  return instance;
}

bool kernel_relay::load(std::string& why) {
  libbpf_set_print(quiet);
  skel_ = sockmap_relay_bpf__open();
  if (!skel_) {
    why = errno_text("cannot open the BPF object", errno);
    return false;
  }
  if (int e = sockmap_relay_bpf__load(skel_)) {
    why = errno_text("the kernel refused the sockmap program", -e);
    return false;
  }
  socks_fd_ = bpf_map__fd(skel_->maps.socks);
  slots_fd_ = bpf_map__fd(skel_->maps.slots);
  if (bpf_prog_attach(bpf_program__fd(skel_->progs.relay_verdict), socks_fd_,
                      BPF_SK_SKB_STREAM_VERDICT, 0) != 0) {
    why = errno_text("cannot attach the stream verdict to the sockhash", errno);
    return false;
  }
  ends_bytes_ = sizeof(relay_end) * kSlots;
  void* m = mmap(nullptr, ends_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED,
                 bpf_map__fd(skel_->maps.ends), 0);
  if (m == MAP_FAILED) {
    why = errno_text("cannot map the relay counters", errno);
    ends_bytes_ = 0;
    return false;
  }
  ends_ = static_cast<relay_end*>(m);
  free_.reserve(kSlots);
  for (uint32_t i = kSlots; i > 0; --i)
    free_.push_back(i - 1);
  return true;
}

kernel_relay::~kernel_relay() {
  if (ends_)
    munmap(ends_, ends_bytes_);
  if (skel_)
    sockmap_relay_bpf__destroy(skel_);
}

std::optional<kernel_relay::pair> kernel_relay::enter(int client_fd, int server_fd,
                                                      std::string& error) {
  pair p;
  int err = 0;
  p.client_cookie = cookie_of(client_fd, err);
  if (!err)
    p.server_cookie = cookie_of(server_fd, err);
  if (err) {
    error = errno_text("SO_COOKIE", err);
    return std::nullopt;
  }
  {
    std::lock_guard lock(mu_);
    if (free_.size() < 2) {
      error = "all kernel relay slots are in use";
      return std::nullopt;
    }
    p.client = free_.back();
    free_.pop_back();
    p.server = free_.back();
    free_.pop_back();
  }
  // Fresh state before the program can see the slot: unarmed, zero counters.
  for (auto [slot, peer] : {std::pair{p.client, p.server_cookie}, {p.server, p.client_cookie}}) {
    relay_end& e = ends_[slot];
    std::memset(static_cast<void*>(&e), 0, sizeof e);
    e.peer = peer;
  }
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  auto undo = [&](const char* what) {
    error = errno_text(what, errno);
    bpf_map_delete_elem(socks_fd_, &p.client_cookie);
    bpf_map_delete_elem(socks_fd_, &p.server_cookie);
    leave(p);
    return std::nullopt;
  };
  if (bpf_map_update_elem(slots_fd_, &p.client_cookie, &p.client, BPF_ANY) != 0 ||
      bpf_map_update_elem(slots_fd_, &p.server_cookie, &p.server, BPF_ANY) != 0)
    return undo("cannot record the relay slots");
  uint64_t fd = static_cast<uint64_t>(client_fd);
  if (bpf_map_update_elem(socks_fd_, &p.client_cookie, &fd, BPF_NOEXIST) != 0)
    return undo("cannot put the client socket in the sockhash");
  fd = static_cast<uint64_t>(server_fd);
  if (bpf_map_update_elem(socks_fd_, &p.server_cookie, &fd, BPF_NOEXIST) != 0)
    return undo("cannot put the server socket in the sockhash");
  return p;
}

void kernel_relay::leave(const pair& p) {
  bpf_map_delete_elem(slots_fd_, &p.client_cookie);
  bpf_map_delete_elem(slots_fd_, &p.server_cookie);
  std::lock_guard lock(mu_);
  free_.push_back(p.client);
  free_.push_back(p.server);
}

}  // namespace sluice::gateway
