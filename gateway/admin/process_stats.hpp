// The process metrics Prometheus users expect from every exporter (process_*), read
// from /proc/self. parse_* are pure so the /proc formats are unit-tested byte by byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice::admin {

struct process_stats {
  double cpu_seconds = 0;         // user + system
  double start_time_seconds = 0;  // since the Unix epoch
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;
};

// /proc/self/stat: fields after the parenthesised command name (which may hold spaces
// and parentheses itself). `ticks` = sysconf(_SC_CLK_TCK), `page` = page size,
// `boot_time` = btime from /proc/stat.
std::optional<process_stats> parse_proc_stat(std::string_view stat, long ticks, long page,
                                             double boot_time);
// btime (seconds since the epoch) from /proc/stat.
std::optional<double> parse_boot_time(std::string_view proc_stat);
// The soft "Max open files" limit from /proc/self/limits.
std::optional<uint64_t> parse_max_open_files(std::string_view limits);

// Reads all of it for this process; fields it cannot read stay 0.
process_stats read_process_stats();

}  // namespace sluice::admin
