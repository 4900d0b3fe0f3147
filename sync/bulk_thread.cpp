#include "sync/bulk_thread.hpp"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cerrno>
#include <system_error>

#include "config/log.hpp"

namespace sluice::sync {

bool mark_bulk_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
  sched_param p{};
  p.sched_priority = 0;
  // pid 0: on Linux this applies to the calling thread only, not the whole process.
  if (sched_setscheduler(0, SCHED_BATCH, &p) == 0)
    return true;
  const int refused = errno;  // before logging can change it
  // Said once per process: a seccomp filter without sched_setscheduler refuses it
  // for every thread alike.
  static std::atomic<bool> said{false};
  if (!said.exchange(true)) {
    log::info("sync_threads_default_policy")
        .kv("reason", std::error_code(refused, std::generic_category()).message())
        .kv("effect", "sync threads may preempt relay threads and a local destination");
  }
  return false;
}

}  // namespace sluice::sync
