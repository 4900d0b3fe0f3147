// Names the calling thread and marks it as bulk work for the Linux scheduler.
#pragma once

namespace sluice::sync {

// SCHED_BATCH: the thread keeps its fair share of CPU but does not preempt a running
// thread when it wakes. The sync writer's parsing and COPY formatting are throughput
// work; without this they preempt latency-sensitive work on the same CPUs (the
// gateway's relay threads, or a PostgreSQL backend on the same machine that they are
// feeding). `name` (at most 15 bytes) is what `top -H` and `ps -L` show.
// Returns false where the platform refuses the policy; the thread then runs as before.
bool mark_bulk_thread(const char* name);

}  // namespace sluice::sync
