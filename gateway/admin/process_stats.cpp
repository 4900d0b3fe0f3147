#include "gateway/admin/process_stats.hpp"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "config/read_file.hpp"

namespace sluice::admin {

namespace {

// A /proc file's text; empty when it cannot be read (the figure is then left out).
std::string slurp(const char* path) {
  return config::read_file(path).value_or("");
}

template <class T>
bool number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::optional<process_stats> parse_proc_stat(std::string_view stat, long ticks, long page,
                                             double boot_time) {
  // The command name ends at the last ')'; field 3 (state) follows it.
  auto close = stat.rfind(')');
  if (close == std::string_view::npos || ticks <= 0 || page <= 0)
    return std::nullopt;
  std::vector<std::string_view> f;  // f[0] is field 3
  for (size_t i = close + 1; i < stat.size();) {
    while (i < stat.size() && (stat[i] == ' ' || stat[i] == '\n'))
      ++i;
    size_t j = i;
    while (j < stat.size() && stat[j] != ' ' && stat[j] != '\n')
      ++j;
    if (j > i)
      f.push_back(stat.substr(i, j - i));
    i = j;
  }
  // Fields (1-based, proc(5)): 14 utime, 15 stime, 22 starttime, 23 vsize, 24 rss.
  auto at = [&](int field) { return f[static_cast<size_t>(field - 3)]; };
  if (f.size() < 22)
    return std::nullopt;
  uint64_t utime = 0, stime = 0, start = 0, vsize = 0;
  int64_t rss = 0;
  if (!number(at(14), utime) || !number(at(15), stime) || !number(at(22), start) ||
      !number(at(23), vsize) || !number(at(24), rss))
    return std::nullopt;
  process_stats s;
  s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
  s.start_time_seconds = boot_time + static_cast<double>(start) / static_cast<double>(ticks);
  s.virtual_bytes = vsize;
  s.resident_bytes = rss > 0 ? static_cast<uint64_t>(rss) * static_cast<uint64_t>(page) : 0;
  return s;
}

std::optional<double> parse_boot_time(std::string_view proc_stat) {
  for (size_t i = 0; i < proc_stat.size();) {
    size_t j = proc_stat.find('\n', i);
    if (j == std::string_view::npos)
      j = proc_stat.size();
    auto line = proc_stat.substr(i, j - i);
    if (line.starts_with("btime ")) {
      uint64_t v = 0;
      if (number(line.substr(6), v))
        return static_cast<double>(v);
      return std::nullopt;
    }
    i = j + 1;
  }
  return std::nullopt;
}

std::optional<uint64_t> parse_max_open_files(std::string_view limits) {
  constexpr std::string_view key = "Max open files";
  auto at = limits.find(key);
  if (at == std::string_view::npos)
    return std::nullopt;
  auto rest = limits.substr(at + key.size());
  size_t i = rest.find_first_not_of(' ');
  if (i == std::string_view::npos)
    return std::nullopt;
  size_t j = rest.find(' ', i);
  uint64_t v = 0;
  if (!number(rest.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i), v))
    return std::nullopt;
  return v;
}

process_stats read_process_stats() {
  const auto boot = parse_boot_time(slurp("/proc/stat")).value_or(0);
  auto s =
      parse_proc_stat(slurp("/proc/self/stat"), sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), boot)
          .value_or(process_stats{});
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++s.open_fds;
  s.max_fds = parse_max_open_files(slurp("/proc/self/limits")).value_or(0);
  return s;
}

}  // namespace sluice::admin
