// An in-process stand-in for aoti-executord that speaks docs/protocol.md
// (gRPC plus the attach socket) with a fixed set of test ops, so the whole
// shim can be tested without the real daemon. It records what it saw, so
// tests can tell a staged input from one sent by reference, and count the
// releases that rode on calls.
#ifndef AOTI_EXECUTOR_TESTS_CLIENT_SHIM_FAKE_DAEMON_H_
#define AOTI_EXECUTOR_TESTS_CLIENT_SHIM_FAKE_DAEMON_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace aoti_executor {
namespace testing {

// The extern nodes every kernel set of the fake has, by index.
enum FakeNode : int {
  kAdd = 0,         // (Tensor a, Tensor b) -> Tensor
  kAddInPlace = 1,  // (Tensor(a!) self, Tensor other, int alpha) -> ()
  kTail = 2,        // (Tensor(a) x) -> Tensor(a): x[1:], aliasing x
  kScale = 3,       // (Tensor x, int factor) -> (Tensor, int): x * factor
  kSlow = 4,        // (Tensor x) -> Tensor: sleeps 2 s, then x.clone()
  kFail = 5,        // () -> (): always INVALID_ARGUMENT
  kSplit = 6,       // (Tensor x) -> (Tensor, Tensor): (x * 2, x + 1)
  kNumFakeNodes = 7,
};

struct FakeStats {
  int calls = 0;
  int staged_inputs = 0;        // inputs in a client-registered region
  int by_reference_inputs = 0;  // inputs in one of the daemon's output regions
  int client_regions = 0;       // RegisterRegion calls that succeeded
  int released_regions = 0;     // ReleaseRegion calls
  int output_regions = 0;       // kOutputRegion frames sent
  int releases = 0;             // OutputReleases received
  int bad_releases = 0;         // releases of blocks not handed out
  int live_blocks = 0;          // output blocks handed out, not released
};

class FakeDaemon {
 public:
  // Sockets go in `dir` (keep it short: socket paths have 107 bytes).
  explicit FakeDaemon(std::string dir);
  ~FakeDaemon();

  absl::Status Start();
  // As if the daemon died: the gRPC server stops and every attach
  // connection closes.
  void Stop();

  std::string endpoint() const { return "unix:" + grpc_path_; }
  FakeStats stats();

 private:
  struct Session;
  class Service;

  void AcceptLoop();
  void ReadLoop(std::shared_ptr<Session> session);
  std::shared_ptr<Session> FindSession(const std::string& secret);

  const std::string dir_;
  const std::string grpc_path_;
  const std::string attach_path_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
  std::vector<std::thread> readers_;
  FakeStats stats_;
  uint64_t next_secret_ = 1;
};

}  // namespace testing
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_CLIENT_SHIM_FAKE_DAEMON_H_
