// Proof that the daemon still serves, for the systemd watchdog: a GetStatus
// call through the daemon's own gRPC server, answered by the same threads
// and locks as a client's calls. A daemon whose serving threads are stuck
// does not answer it, so the watchdog stops pinging and systemd restarts it.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_LIVENESS_PROBE_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_LIVENESS_PROBE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/executor.grpc.pb.h"

namespace aoti_executor {

class LivenessProbe {
 public:
  // `channel` reaches the daemon's server: grpc::Server::InProcessChannel.
  explicit LivenessProbe(std::shared_ptr<grpc::Channel> channel);

  // The daemon's counters as one line ("serving: 1 sessions, 1 workers, 12
  // calls (0 failed, 0 in flight)") if GetStatus answers within `timeout`;
  // else DeadlineExceeded or the RPC's error. Returns by `timeout` even if
  // gRPC's own threads are stuck: the call is abandoned, not waited for.
  absl::StatusOr<std::string> Check(absl::Duration timeout);

 private:
  std::unique_ptr<aoti::executor::v1::Executor::Stub> stub_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_LIVENESS_PROBE_H_
