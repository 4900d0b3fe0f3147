// nlohmann::json as the reference the batch target compares sluice's JSON scanner with.
// Compiled in its own file without coverage instrumentation (tests/fuzz/CMakeLists.txt):
// nlohmann's parser is header-only, and instrumented inside the target it added
// thousands of features about itself, which grew the corpus and slowed every exec.
#pragma once

#include <string>
#include <string_view>

namespace sluice_fuzz {

struct reference_json {
  enum class kind { refused, out_of_range, null, boolean, number, string, object, array };
  kind what = kind::refused;
  bool truth = false;  // boolean
  std::string text;    // string: its bytes; refused: nlohmann's message
};

reference_json parse_reference_json(std::string_view in);

}  // namespace sluice_fuzz
