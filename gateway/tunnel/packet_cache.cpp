#include "gateway/tunnel/packet_cache.hpp"

#include <cstdlib>
#include <cstring>

namespace sluice::tunnel {

namespace {
// Every block carries its requested size and size class (16 bytes keep the alignment).
struct header {
  size_t size;
  size_t shift;  // 0: not cached (malloc'd to its exact size)
};
static_assert(sizeof(header) == 16);

header* head_of(void* p) {
  return static_cast<header*>(p) - 1;
}

unsigned shift_for(size_t bytes) {
  unsigned s = packet_cache::kMinShift;
  while ((size_t{1} << s) < bytes)
    ++s;
  return s;
}
}  // namespace

packet_cache::~packet_cache() {
  for (auto& list : free_) {
    for (void* b : list)
      std::free(b);
  }
}

void* packet_cache::alloc(size_t n) {
  const size_t total = n + sizeof(header);
  size_t shift = 0;
  void* block = nullptr;
  if (total >= (size_t{1} << kMinShift) && total <= (size_t{1} << kMaxShift)) {
    shift = shift_for(total);
    auto& list = free_[shift - kMinShift];
    if (!list.empty()) {
      block = list.back();
      list.pop_back();
      cached_ -= size_t{1} << shift;
    } else {
      block = std::malloc(size_t{1} << shift);
    }
  } else {
    block = std::malloc(total);
  }
  if (!block)
    return nullptr;
  auto* h = static_cast<header*>(block);
  h->size = n;
  h->shift = shift;
  return h + 1;
}

void packet_cache::free(void* p) {
  if (!p)
    return;
  header* h = head_of(p);
  if (h->shift != 0 && cached_ + (size_t{1} << h->shift) <= kMaxCached) {
    auto& list = free_[h->shift - kMinShift];
    list.push_back(h);
    cached_ += size_t{1} << h->shift;
    return;
  }
  std::free(h);
}

void* packet_cache::realloc(void* p, size_t n) {
  if (!p)
    return alloc(n);
  header* h = head_of(p);
  if (h->shift != 0 && n + sizeof(header) <= (size_t{1} << h->shift)) {
    h->size = n;
    return p;
  }
  void* q = alloc(n);
  if (!q)
    return nullptr;  // like realloc: the old block stays valid
  std::memcpy(q, p, h->size < n ? h->size : n);
  free(p);
  return q;
}

}  // namespace sluice::tunnel
