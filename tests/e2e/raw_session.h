// A client of aoti-executord that speaks docs/protocol.md by hand (the gRPC
// stub and the attach socket, no shim), so tests can send what the shim never
// would: hostile tensor references, forged secrets, unsealed memfds, garbage
// frames. Also the probes the end-to-end tests read the daemon with: its
// GetStatus counters, its open fds, and /dev/shm.
#ifndef AOTI_EXECUTOR_TESTS_E2E_RAW_SESSION_H_
#define AOTI_EXECUTOR_TESTS_E2E_RAW_SESSION_H_

#include <ATen/core/Tensor.h>
#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/executor.grpc.pb.h"
#include "server/common/unique_fd.h"
#include "server/lane/call_lane.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {
namespace e2e {

namespace v1 = ::aoti::executor::v1;

// A gRPC stub for the daemon at `endpoint` ("unix:/path").
std::unique_ptr<v1::Executor::Stub> NewStub(const std::string& endpoint);

// The daemon's GetStatus, with a 5 s deadline, on a new connection or on
// `stub`'s (cheaper, for polling).
absl::StatusOr<v1::GetStatusResponse> DaemonStatus(const std::string& endpoint);
absl::StatusOr<v1::GetStatusResponse> DaemonStatus(v1::Executor::Stub& stub);

// Open file descriptors of process `pid` (entries of /proc/<pid>/fd), or -1.
int OpenFdCount(pid_t pid);
// OpenFdCount(pid) once it has not changed for 200 ms (connections that
// closed a moment ago take a moment to close in the daemon), or after 5 s.
int SettledFdCount(pid_t pid);

// The names in /dev/shm (named POSIX shared memory), to show none appear.
std::set<std::string> DevShmNames();

// Polls `done` every 10 ms until it is true or `timeout` passes; returns its
// last value.
bool WaitFor(const std::function<bool()>& done, absl::Duration timeout);

class RawSession {
 public:
  // Hello, then connects to the attach socket and reads the kWelcome frame.
  static absl::StatusOr<std::unique_ptr<RawSession>> Open(
      const std::string& endpoint);
  // Destroying it closes the attach socket: the session ends.

  v1::Executor::Stub* stub() const { return stub_.get(); }
  const std::string& secret() const { return secret_; }
  int attach_fd() const { return attach_fd_.get(); }
  const std::string& attach_path() const { return attach_path_; }

  // A ClientContext with a deadline `timeout` from now.
  static std::unique_ptr<grpc::ClientContext> Context(
      absl::Duration timeout = absl::Seconds(10));

  // A fresh attach id.
  uint64_t NextAttachId() { return next_attach_id_++; }
  // Sends `fd` in a kClientRegion frame claiming `size` bytes.
  absl::Status SendRegionFd(uint64_t attach_id, int fd, uint64_t size);
  // RegisterRegion(attach_id) for this session, with a deadline `timeout`.
  grpc::Status RegisterRegion(uint64_t attach_id,
                              v1::RegisterRegionResponse* response,
                              absl::Duration timeout = absl::Seconds(10));
  // Creates a sealed memfd region of `size` bytes, sends and registers it;
  // returns its region id. The client's mapping stays in regions().
  absl::StatusOr<uint64_t> AddRegion(uint64_t size);
  SharedRegion& region(uint64_t region_id) { return *regions_.at(region_id); }

  // RegisterKernelSet with the bytes of `json_path` for "cpu".
  absl::StatusOr<uint64_t> RegisterKernelSet(const std::string& json_path);
  // The same, asking for the first call lane with it when `open_call_lane`:
  // the whole answer (its call_lane for TakeLane).
  absl::StatusOr<v1::RegisterKernelSetResponse> Register(
      const std::string& json_path, bool open_call_lane);

  // Call, with `request.session` set to this session's secret unless
  // `keep_session` (for forged secrets).
  grpc::Status Call(v1::CallRequest request, v1::CallResponse* response,
                    bool keep_session = false);

  // A copy of the output `ref` names, mapping its output region first (read
  // from the attach socket) if it is new.
  absl::StatusOr<at::Tensor> ReadOutput(const v1::TensorRef& ref);

  // OpenCallLane, then the lane's memfd from the attach socket, mapped: the
  // client's end of the call lane, for the test to write what it likes.
  absl::StatusOr<CallLane> OpenLane();
  // The kCallLane frame `lane_id` from the attach socket, mapped (output
  // regions sent before it are kept for ReadOutput).
  absl::StatusOr<CallLane> TakeLane(uint64_t lane_id);

 private:
  RawSession() = default;

  std::unique_ptr<v1::Executor::Stub> stub_;
  std::string attach_path_;
  std::string secret_;
  UniqueFd attach_fd_;
  uint64_t next_attach_id_ = 1;
  std::map<uint64_t, std::unique_ptr<SharedRegion>> regions_;
  std::map<uint64_t, std::shared_ptr<SharedRegion>> output_regions_;
};

// Copies contiguous `tensor` into `region` at byte `offset` and returns the
// TensorRef that names it there.
v1::TensorRef PlaceTensor(const at::Tensor& tensor, SharedRegion& region,
                          uint64_t region_id, uint64_t offset);

}  // namespace e2e
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_E2E_RAW_SESSION_H_
