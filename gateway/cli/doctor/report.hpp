// What `sluice doctor` prints: one line per stage walked, and for the first failing
// stage the cause and the fix in a support engineer's words.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace sluice::doctor {

struct stage {
  std::string name;  // "DNS", "TCP", "SSH", "SSLRequest", "TLS", "authentication", ...
  bool ok = true;
  std::string detail;  // what was observed
  std::string cause;   // failures: what it means
  std::string fix;     // failures: what to change, and where
};

class report {
 public:
  explicit report(std::ostream& out) : out_(out) {}
  // Prints the stage as it is recorded; returns its ok flag so walkers can stop.
  bool add(stage s);
  bool pass(const std::string& name, const std::string& detail) {
    return add({name, true, detail, {}, {}});
  }
  bool fail(const std::string& name, const std::string& detail, const std::string& cause,
            const std::string& fix) {
    return add({name, false, detail, cause, fix});
  }
  void note(const std::string& text);
  bool failed() const { return failed_; }
  const std::vector<stage>& stages() const { return stages_; }

 private:
  std::ostream& out_;
  std::vector<stage> stages_;
  bool failed_ = false;
};

}  // namespace sluice::doctor
