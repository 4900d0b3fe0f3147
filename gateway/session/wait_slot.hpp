// Memory inside the session for one pending readiness wait of the copy relay.
//
// An idle session keeps one wait out per direction for as long as it lives. Without
// this, Asio takes each wait's memory from its per-thread recycling cache, which hands
// out whatever block the thread freed last: a connect or send operation's, 200 to 250
// bytes for a 144-byte wait (heaptrack of 9,800 idle TLS sessions: 590 bytes of such
// blocks per session). The slot holds one wait; anything larger, or a second wait while
// the first is out, goes to the heap as before.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace sluice::gateway {

class wait_slot {
 public:
  static constexpr std::size_t kSize = 160;

  void* allocate(std::size_t n) {
    if (in_use_ || n > kSize)
      return ::operator new(n);
    in_use_ = true;
    return storage_;
  }
  void deallocate(void* p) noexcept {
    if (p == storage_) {
      in_use_ = false;
      return;
    }
    ::operator delete(p);
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[kSize];
  bool in_use_ = false;
};

template <class T>
class wait_slot_allocator {
 public:
  using value_type = T;
  explicit wait_slot_allocator(wait_slot& s) noexcept : slot_(&s) {}
  template <class U>
  wait_slot_allocator(const wait_slot_allocator<U>& o) noexcept : slot_(o.slot()) {}
  T* allocate(std::size_t n) { return static_cast<T*>(slot_->allocate(sizeof(T) * n)); }
  void deallocate(T* p, std::size_t) noexcept { slot_->deallocate(p); }
  wait_slot* slot() const noexcept { return slot_; }
  template <class U>
  bool operator==(const wait_slot_allocator<U>& o) const noexcept {
    return slot_ == o.slot();
  }
  template <class U>
  bool operator!=(const wait_slot_allocator<U>& o) const noexcept {
    return slot_ != o.slot();
  }

 private:
  wait_slot* slot_;
};

// A completion handler whose operation lives in `slot` (Asio asks a handler's
// associated allocator for its operation's memory). The slot must outlive the wait: the
// relay's handlers hold the session that owns it.
template <class Handler>
class in_slot {
 public:
  using allocator_type = wait_slot_allocator<void>;
  in_slot(wait_slot& slot, Handler h) : slot_(&slot), h_(std::move(h)) {}
  allocator_type get_allocator() const noexcept { return allocator_type(*slot_); }
  template <class... Args>
  void operator()(Args&&... args) {
    h_(std::forward<Args>(args)...);
  }

 private:
  wait_slot* slot_;  // a raw pointer: still valid in a moved-from handler, which Asio
                     // asks for the allocator when it frees the operation
  Handler h_;
};

}  // namespace sluice::gateway
