// Executors of the test fixtures on a DaemonProcess, for the end-to-end
// tests; the calls themselves are in shim_calls.h.
#ifndef AOTI_EXECUTOR_TESTS_E2E_SHIM_UTIL_H_
#define AOTI_EXECUTOR_TESTS_E2E_SHIM_UTIL_H_

#include <memory>
#include <string>

#include "aoti_remote/executor.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/shim_calls.h"

namespace aoti_executor {
namespace e2e {

inline std::string FixturePath(const std::string& name) {
  return RunfilePath("tests/fixtures/" + name);
}

struct ExecutorDeleter {
  void operator()(AOTIProxyExecutorOpaque* executor) const {
    aoti_remote_executor_delete(executor);
  }
};
using Executor = std::unique_ptr<AOTIProxyExecutorOpaque, ExecutorDeleter>;

// An executor for `fixture` on the daemon at `endpoint`; null on failure
// (see LastError()).
inline Executor CreateExecutor(const std::string& endpoint,
                               const std::string& fixture) {
  AOTIProxyExecutorHandle handle = nullptr;
  if (aoti_remote_executor_create(endpoint.c_str(),
                                  FixturePath(fixture).c_str(), "cpu",
                                  &handle) != AOTI_TORCH_SUCCESS) {
    return nullptr;
  }
  return Executor(handle);
}

}  // namespace e2e
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_E2E_SHIM_UTIL_H_
