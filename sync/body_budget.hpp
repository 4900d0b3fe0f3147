// The bytes of request bodies the ingest server may hold in memory at once, across all
// connections (ingest.max_body_memory). A request reserves its announced length (or
// the batch limit when chunked) after it authenticated and before its body is read,
// and gives it back when its reply is written. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

namespace sluice::sync {

class body_budget {
 public:
  explicit body_budget(uint64_t limit) : limit_(limit) {}

  // Gives its bytes back when destroyed.
  class reservation {
   public:
    reservation(std::shared_ptr<body_budget> owner, uint64_t bytes)
        : owner_(std::move(owner)), bytes_(bytes) {}
    ~reservation() { owner_->release(bytes_); }
    reservation(const reservation&) = delete;
    reservation& operator=(const reservation&) = delete;

   private:
    std::shared_ptr<body_budget> owner_;
    uint64_t bytes_;
  };

  bool try_reserve(uint64_t bytes);
  void release(uint64_t bytes);
  void set_limit(uint64_t limit);
  uint64_t in_use() const;

 private:
  mutable std::mutex mu_;
  uint64_t limit_;
  uint64_t in_use_ = 0;
};

// nullptr when `bytes` do not fit now.
std::unique_ptr<body_budget::reservation> reserve(const std::shared_ptr<body_budget>& budget,
                                                  uint64_t bytes);

}  // namespace sluice::sync
