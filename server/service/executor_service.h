// The gRPC service aoti.executor.v1.Executor: sessions, kernel sets,
// regions and calls (proto/executor.proto).
//
// The synchronous API on purpose: a call blocks while its session's worker
// computes, and gRPC's sync server gives each call a thread from its pool,
// where the callback API would block its event threads. No lock is held
// around a call.
//
// Every RPC has one shape: its override only hands the request to a private
// method of its name with `Do` in front, which returns absl::Status, and
// converts that to grpc::Status by one helper, which also logs failures.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_EXECUTOR_SERVICE_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_EXECUTOR_SERVICE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/executor.grpc.pb.h"
#include "server/common/daemon_stats.h"
#include "server/metrics/call_latencies.h"
#include "server/metrics/daemon_snapshot.h"
#include "server/service/kernel_set_cache.h"
#include "server/service/lane_watchdog.h"
#include "server/service/rpc_drain.h"
#include "server/service/session_registry.h"
#include "server/workers/crash_tracker.h"

namespace aoti_executor {

class ExecutorService final : public aoti::executor::v1::Executor::Service {
 public:
  struct Options {
    // The longest a call may run when its client set a later deadline (or
    // none); past it the call fails and its worker is killed.
    absl::Duration call_timeout = absl::Seconds(60);
    // Quarantine: this many crashes or hangs of one node within the window.
    int quarantine_crashes = 3;
    absl::Duration quarantine_window = absl::Minutes(5);
    // Call lanes a session may open (OpenCallLane); 0: none.
    size_t call_lanes = 4;
    // Where Call RPCs record their latency by op (--metrics-listen); null:
    // not recorded. Must outlive the service.
    CallLatencies* latencies = nullptr;
  };

  // `sessions` and `stats` must outlive the service; `stats` is the one the
  // workers count in too (WorkerOptions::stats), and GetStatus reads it.
  ExecutorService(SessionRegistry* sessions, DaemonStats* stats,
                  const Options& options);
  // Takes the lane watchdog out of the sessions' reach.
  ~ExecutorService() override;

  // The daemon's numbers now: what GetStatus reports, and the metrics read
  // at each scrape. Thread-safe.
  DaemonSnapshot Snapshot();

  // For a stop: every RPC from now on is refused (UNAVAILABLE); waits until
  // those running have answered, or until `deadline` (false then).
  bool Drain(absl::Time deadline) { return drain_.Stop(deadline); }
  // When the last RPC returned: its answer may still be on its way out.
  absl::Time last_answered() const { return drain_.last_returned(); }

  grpc::Status Hello(grpc::ServerContext* context,
                     const aoti::executor::v1::HelloRequest* request,
                     aoti::executor::v1::HelloResponse* response) override;
  grpc::Status RegisterKernelSet(
      grpc::ServerContext* context,
      const aoti::executor::v1::RegisterKernelSetRequest* request,
      aoti::executor::v1::RegisterKernelSetResponse* response) override;
  grpc::Status RegisterRegion(
      grpc::ServerContext* context,
      const aoti::executor::v1::RegisterRegionRequest* request,
      aoti::executor::v1::RegisterRegionResponse* response) override;
  grpc::Status ReleaseRegion(
      grpc::ServerContext* context,
      const aoti::executor::v1::ReleaseRegionRequest* request,
      aoti::executor::v1::ReleaseRegionResponse* response) override;
  grpc::Status Call(grpc::ServerContext* context,
                    const aoti::executor::v1::CallRequest* request,
                    aoti::executor::v1::CallResponse* response) override;
  grpc::Status ReleaseOutputs(
      grpc::ServerContext* context,
      const aoti::executor::v1::ReleaseOutputsRequest* request,
      aoti::executor::v1::ReleaseOutputsResponse* response) override;
  grpc::Status GetStatus(
      grpc::ServerContext* context,
      const aoti::executor::v1::GetStatusRequest* request,
      aoti::executor::v1::GetStatusResponse* response) override;
  grpc::Status ClearQuarantine(
      grpc::ServerContext* context,
      const aoti::executor::v1::ClearQuarantineRequest* request,
      aoti::executor::v1::ClearQuarantineResponse* response) override;
  grpc::Status OpenCallLane(
      grpc::ServerContext* context,
      const aoti::executor::v1::OpenCallLaneRequest* request,
      aoti::executor::v1::OpenCallLaneResponse* response) override;

 private:
  // The RPCs, in the order above; each may leave `response` half filled when
  // it fails (gRPC then sends no response).
  absl::Status DoHello(const grpc::ServerContext& context,
                       const aoti::executor::v1::HelloRequest& request,
                       aoti::executor::v1::HelloResponse* response);
  // The cached set the request names by hash or by its file, or its JSON
  // (inline, or in a memfd the session sent, waited for until `deadline`)
  // parsed once per content; `found` says how.
  absl::StatusOr<KernelSetCache::Entry> FindOrLoad(
      const aoti::executor::v1::RegisterKernelSetRequest& request,
      Session& session, absl::Time deadline, KernelSetCache::Found* found);
  // FindOrLoad of the client's file (json_file_attach_id): the cached set
  // it holds the JSON of, else what it holds, read and parsed. NotFound if
  // the daemon does not read that file in place (client_file.h).
  absl::StatusOr<KernelSetCache::Entry> FindOrReadFile(
      const aoti::executor::v1::RegisterKernelSetRequest& request,
      Session& session, absl::Time deadline, KernelSetCache::Found* found);
  absl::Status DoRegisterKernelSet(
      const grpc::ServerContext& context,
      const aoti::executor::v1::RegisterKernelSetRequest& request,
      aoti::executor::v1::RegisterKernelSetResponse* response);
  absl::Status DoRegisterRegion(
      const grpc::ServerContext& context,
      const aoti::executor::v1::RegisterRegionRequest& request,
      aoti::executor::v1::RegisterRegionResponse* response);
  absl::Status DoReleaseRegion(
      const grpc::ServerContext& context,
      const aoti::executor::v1::ReleaseRegionRequest& request,
      aoti::executor::v1::ReleaseRegionResponse* response);
  // Counts the call (DaemonStats::rpc_calls_*) around RunCall.
  absl::Status DoCall(const grpc::ServerContext& context,
                      const aoti::executor::v1::CallRequest& request,
                      aoti::executor::v1::CallResponse* response);
  absl::Status DoReleaseOutputs(
      const grpc::ServerContext& context,
      const aoti::executor::v1::ReleaseOutputsRequest& request,
      aoti::executor::v1::ReleaseOutputsResponse* response);
  absl::Status DoGetStatus(const grpc::ServerContext& context,
                           const aoti::executor::v1::GetStatusRequest& request,
                           aoti::executor::v1::GetStatusResponse* response);
  absl::Status DoClearQuarantine(
      const grpc::ServerContext& context,
      const aoti::executor::v1::ClearQuarantineRequest& request,
      aoti::executor::v1::ClearQuarantineResponse* response);
  absl::Status DoOpenCallLane(
      const grpc::ServerContext& context,
      const aoti::executor::v1::OpenCallLaneRequest& request,
      aoti::executor::v1::OpenCallLaneResponse* response);
  // A new call lane of `session`, for OpenCallLane or for a registration
  // that asked for one; `how` says which in the debug log.
  absl::Status OpenLane(Session& session, const char* how,
                        aoti::executor::v1::OpenCallLaneResponse* response);

  // Runs a call on its session's worker, until `client_deadline` at most.
  absl::Status RunCall(const aoti::executor::v1::CallRequest& request,
                       absl::Time client_deadline,
                       aoti::executor::v1::CallResponse* response);

  SessionRegistry* const sessions_;
  DaemonStats* const stats_;
  const Options options_;
  RpcDrain drain_;
  CrashTracker crashes_;
  KernelSetCache kernel_sets_;
  const absl::Time started_ = absl::Now();
  LaneWatchdog watchdog_;  // last: its thread uses crashes_
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_EXECUTOR_SERVICE_H_
