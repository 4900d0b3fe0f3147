#include "gateway/cli/doctor/report.hpp"

namespace sluice::doctor {

bool report::add(stage s) {
  out_ << (s.ok ? "[ok]   " : "[FAIL] ") << s.name << ": " << s.detail << '\n';
  if (!s.ok) {
    failed_ = true;
    out_ << "       cause: " << s.cause << '\n' << "       fix:   " << s.fix << '\n';
  }
  out_.flush();
  bool ok = s.ok;
  stages_.push_back(std::move(s));
  return ok;
}

void report::note(const std::string& text) {
  out_ << "       note: " << text << '\n';
  out_.flush();
}

}  // namespace sluice::doctor
