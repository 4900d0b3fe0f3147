// Entry points: YAML text or file -> validated settings snapshot, plus every issue.
#pragma once

#include <string>

#include "config/issues.hpp"
#include "config/settings.hpp"

namespace sluice::config {

struct load_options {
  // Check that referenced files exist, are readable and keys are private. Tests of
  // pure parsing turn this off; `run` and `check-config` leave it on.
  bool check_files = true;
};

struct load_result {
  settings_ptr settings;  // null when issues has errors
  issue_list issues;
};

// A configuration file larger than this is refused before it is read into memory.
inline constexpr size_t kMaxConfigBytes = 16u << 20;

// Neither function throws: every problem with the text, its YAML or its settings,
// whatever the input, is an issue in the result.
load_result load_file(const std::string& path, const load_options& opts = {});
// `base_dir` resolves relative file paths (the config file's folder when loading a file).
load_result load_string(const std::string& yaml, const std::string& base_dir = ".",
                        const load_options& opts = {});

}  // namespace sluice::config
