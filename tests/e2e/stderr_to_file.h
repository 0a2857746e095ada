// A test's view of the daemon's log: the daemon (and its workers) inherit
// the test's stderr, so a test points its stderr at a file while the daemon
// starts and reads the file afterwards.
#ifndef AOTI_EXECUTOR_TESTS_E2E_STDERR_TO_FILE_H_
#define AOTI_EXECUTOR_TESTS_E2E_STDERR_TO_FILE_H_

#include <fcntl.h>
#include <grpc/support/log.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace aoti_executor {
namespace e2e {

// While it lives, this process's stderr is `path` (appended to, so that the
// daemon and its workers, which inherit it, never overwrite each other).
// This process's own gRPC lines (its health checks while the daemon starts)
// are dropped meanwhile: the file is for the daemon's lines only.
class StderrToFile {
 public:
  explicit StderrToFile(const std::string& path) {
    quiet_ = true;
    gpr_set_log_function([](gpr_log_func_args* args) {
      if (quiet_) return;
      std::fprintf(stderr, "grpc %s:%d: %s\n", args->file, args->line,
                   args->message);
    });
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    const int fd =
        open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    EXPECT_GE(fd, 0) << path;
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  ~StderrToFile() {
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    quiet_ = false;
  }
  StderrToFile(const StderrToFile&) = delete;
  StderrToFile& operator=(const StderrToFile&) = delete;

 private:
  static inline std::atomic<bool> quiet_{false};
  int saved_ = -1;
};

inline std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream file(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  return lines;
}

}  // namespace e2e
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_E2E_STDERR_TO_FILE_H_
