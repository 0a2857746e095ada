// Files a fuzz target loads at start (the custom-op test library, fixtures),
// found in the binary's runfiles.
#ifndef AOTI_EXECUTOR_TESTS_FUZZ_FUZZ_RUNFILES_H_
#define AOTI_EXECUTOR_TESTS_FUZZ_FUZZ_RUNFILES_H_

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "server/kernels/op_library.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {
namespace fuzz {

// `path` (relative to the workspace) in the runfiles of `argv0`.
inline std::string Runfile(const char* argv0, const std::string& path) {
  return std::string(argv0) + ".runfiles/aoti_executor/" + path;
}

// The whole file; aborts if it cannot be read (the target is miswired).
inline std::string ReadRunfile(const char* argv0, const std::string& path) {
  std::ifstream file(Runfile(argv0, path), std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "cannot read runfile %s\n", path.c_str());
    std::abort();
  }
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// The setup every target that resolves kernels shares: the ops of the
// fixtures registered (libaoti_test_ops.so, a data dependency), and the
// daemon's logging off (every refused input would log a line).
inline void SetUpKernels(const char* argv0) {
  spdlog::set_level(spdlog::level::off);
  const std::string ops = Runfile(argv0, "tests/ops/libaoti_test_ops.so");
  if (absl::Status loaded = LoadOpLibrary(ops); !loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.ToString().c_str());
    std::abort();
  }
}

}  // namespace fuzz
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_FUZZ_FUZZ_RUNFILES_H_
