// The remote Backend of the engine suites (test_util.h): every call goes
// through the client shim's C ABI (aoti_remote_executor_create /
// _call_function) to a real aoti-executord, started as a separate process on
// a temporary socket with the test op library loaded.
#ifndef AOTI_EXECUTOR_TESTS_KERNELS_REMOTE_BACKEND_H_
#define AOTI_EXECUTOR_TESTS_KERNELS_REMOTE_BACKEND_H_

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tests/e2e/daemon_process.h"
#include "tests/kernels/test_util.h"

namespace aoti_executor {
namespace kernel_test {

// Opens each model as its own shim executor on the daemon at `endpoint`:
// the JSON goes to a temporary <key>.wrapper.json file, as a model's does.
// A failed call becomes kUnknown carrying aoti_remote_last_error(): the C
// ABI has no status codes.
class RemoteBackend final : public Backend {
 public:
  explicit RemoteBackend(std::string endpoint)
      : endpoint_(std::move(endpoint)),
        calls_succeeded_(std::make_shared<std::atomic<int64_t>>(0)) {}

  std::string name() const override { return "remote"; }
  absl::StatusOr<std::shared_ptr<const BackendModel>> Open(
      const std::string& json,
      std::shared_ptr<const KernelSet> parsed) override;

  // Calls that aoti_remote_executor_call_function reported successful, over
  // every model this backend opened.
  int64_t calls_succeeded() const { return calls_succeeded_->load(); }

 private:
  const std::string endpoint_;
  const std::shared_ptr<std::atomic<int64_t>> calls_succeeded_;
};

// Which way the shim's calls reach the worker.
enum class CallPath {
  // The daemon's default: small calls over call lanes, the rest by the Call
  // RPC.
  kLanes,
  // The daemon runs with --call-lanes=0: every call takes the Call RPC.
  kRpcOnly,
};

// `text` as a --call_path value: "lanes" or "rpc".
absl::StatusOr<CallPath> ParseCallPath(absl::string_view text);

// Starts one daemon for the whole test binary and makes RemoteBackend the
// current backend; after the last test, checks that the daemon ran every
// call the backend made (nothing ran in-process by mistake) and that they
// took `path` (with kLanes some went over a lane, with kRpcOnly none did),
// then stops it.
class RemoteEnvironment final : public ::testing::Environment {
 public:
  explicit RemoteEnvironment(CallPath path) : path_(path) {}

  void SetUp() override;
  void TearDown() override;

 private:
  const CallPath path_;
  std::unique_ptr<e2e::DaemonProcess> daemon_;
  const RemoteBackend* backend_ = nullptr;  // owned by SetBackend's slot
};

}  // namespace kernel_test
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_KERNELS_REMOTE_BACKEND_H_
