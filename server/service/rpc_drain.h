// The daemon's RPCs in progress, for a stop that lets them finish but starts
// no new one.
//
// Why not gRPC's own graceful shutdown alone: besides the calls in progress,
// grpc::Server::Shutdown (gRPC 1.51) waits for every client connection to
// acknowledge its GOAWAY, and an idle gRPC client reads its socket only when
// its backup poller runs, every 5 s by default. A daemon with idle clients
// took about 5 s per client to stop. So the daemon drains its own RPCs with
// this, then gives gRPC a short grace to send the last answer before it
// cuts the connections (server/main.cc).
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_RPC_DRAIN_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_RPC_DRAIN_H_

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace aoti_executor {

class RpcDrain {
 public:
  // Runs `handle` and returns what it returns; once Stop was called,
  // UNAVAILABLE without running it.
  template <typename Handle>
  grpc::Status Run(Handle&& handle) {
    if (!Enter()) return Stopping();
    const Running running(this);
    return std::forward<Handle>(handle)();
  }

  // From now on Run refuses. Waits until the RPCs already running have
  // returned, or until `deadline`; true if they all returned.
  bool Stop(absl::Time deadline);
  // When the last RPC returned (InfinitePast if none has): its answer may
  // still be on its way out.
  absl::Time last_returned() const;

 private:
  class Running {
   public:
    explicit Running(RpcDrain* drain) : drain_(drain) {}
    ~Running() { drain_->Leave(); }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;

   private:
    RpcDrain* const drain_;
  };

  bool Enter();
  void Leave();
  static grpc::Status Stopping();

  mutable absl::Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_returned_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_RPC_DRAIN_H_
