// libssh2's allocator for one session. libssh2 allocates every packet it reads or
// writes (up to ~32 KiB each) and frees it right after; on the tunnel thread glibc's
// arena then returns the freed top of its heap to the kernel (madvise) and the next
// packets fault fresh zero-filled pages back in. Keeping a few large freed blocks per
// session avoids that churn. Single-threaded, like the libssh2 session it serves.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

namespace sluice::tunnel {

class packet_cache {
 public:
  packet_cache() = default;
  ~packet_cache();
  packet_cache(const packet_cache&) = delete;
  packet_cache& operator=(const packet_cache&) = delete;

  void* alloc(size_t n);
  void free(void* p);
  void* realloc(void* p, size_t n);

  size_t cached_bytes() const { return cached_; }

  // Blocks from 4 KiB up to 256 KiB are cached, at most 2 MiB in all.
  static constexpr unsigned kMinShift = 12, kMaxShift = 18;
  static constexpr size_t kMaxCached = 2 << 20;

 private:
  std::array<std::vector<void*>, kMaxShift - kMinShift + 1> free_;
  size_t cached_ = 0;
};

}  // namespace sluice::tunnel
