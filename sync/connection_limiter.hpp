// Counts open connections per client address and in total, so one client (or many)
// cannot hold every socket and the memory behind it. Used by the ingest and admin
// HTTP servers. Thread-safe; the limits may change at any time (reload) and apply to
// connections admitted afterwards.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace sluice::sync {

enum class admit_result { admitted, too_many_total, too_many_from_address };

const char* to_string(admit_result r);

class connection_limiter {
 public:
  connection_limiter(uint32_t max_total, uint32_t max_per_address);

  // Releases its slot when destroyed.
  class slot {
   public:
    slot(std::shared_ptr<connection_limiter> owner, std::string address);
    ~slot();
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;

   private:
    std::shared_ptr<connection_limiter> owner_;
    std::string address_;
  };

  admit_result try_admit(const std::string& address);
  void release(const std::string& address);
  void set_limits(uint32_t max_total, uint32_t max_per_address);
  uint32_t total() const;
  uint32_t from(const std::string& address) const;

 private:
  mutable std::mutex mu_;
  uint32_t max_total_;
  uint32_t max_per_address_;
  uint32_t total_ = 0;
  std::map<std::string, uint32_t> per_address_;
};

// Admits `address` into `limiter`; on success returns the slot that holds it.
std::unique_ptr<connection_limiter::slot> admit(const std::shared_ptr<connection_limiter>& limiter,
                                                const std::string& address, admit_result& why);

}  // namespace sluice::sync
