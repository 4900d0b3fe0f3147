// The union of named CIDR lists a listener, route or the ingest API admits. Pure:
// no I/O, so it is table-tested and fuzzed against a naive reference.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/cidr.hpp"

namespace sluice::config {

struct allow_decision {
  bool allowed = false;
  std::string matched;  // "office:198.51.100.0/24" when allowed
};

class allowlist {
 public:
  allowlist() = default;  // admits everyone
  allowlist(const std::vector<std::string>& names,
            const std::map<std::string, std::vector<cidr>>& lists);

  allow_decision check(const ip_address& a) const;
  bool admits_everyone() const { return names_.empty(); }
  // "office, sync-workers" for messages.
  std::string describe() const;

 private:
  struct entry {
    std::string list;
    cidr block;
  };
  std::vector<std::string> names_;
  std::vector<entry> entries_;
};

}  // namespace sluice::config
