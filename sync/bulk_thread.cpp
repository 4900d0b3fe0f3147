#include "sync/bulk_thread.hpp"

#include <pthread.h>
#include <sched.h>

namespace sluice::sync {

bool mark_bulk_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
  sched_param p{};
  p.sched_priority = 0;
  // pid 0: on Linux this applies to the calling thread only, not the whole process.
  return sched_setscheduler(0, SCHED_BATCH, &p) == 0;
}

}  // namespace sluice::sync
