// The YAML configuration loader on whole files (config/load.*): `check-config`, startup
// and every reload run it on a file someone edited. No input may end the process, so an
// exception escaping load_string() is a finding. Invariant: settings come back exactly
// when no issue is an error.
#include <cstdint>
#include <string>

#include <yaml-cpp/yaml.h>

#include "config/load.hpp"
#include "fuzz_check.hpp"

using namespace sluice::config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  load_options opts;
  opts.check_files = false;  // no file system: a pure parse
  load_result r;
  // No input may throw out of the loader (issue 16: `[a, b]: 1` aborted the process).
  r = load_string(yaml, "/nonexistent/sluice-fuzz", opts);
  FUZZ_CHECK((r.settings != nullptr) == !r.issues.has_errors());
  for (const auto& i : r.issues.all())
    FUZZ_CHECK(!i.message.empty());
  (void)r.issues.str();
  return 0;
}
