#include "server/service/executor_service.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "server/common/packed_node_table.h"
#include "server/common/protocol.h"
#include "server/common/status_macros.h"
#include "server/common/version.h"
#include "server/service/admin_guard.h"
#include "server/service/client_file.h"
#include "server/service/status_convert.h"
#include "server/shm/sealed_bytes.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

namespace v1 = aoti::executor::v1;

namespace {

// How long RegisterRegion waits for its memfd when the client set no deadline.
constexpr absl::Duration kDefaultRegionWait = absl::Seconds(5);
// How much earlier than the client's deadline the daemon gives up on a call.
constexpr absl::Duration kDeadlineMargin = absl::Milliseconds(50);
// A call killed at its deadline counts toward quarantine only if it had at
// least this long to run.
constexpr absl::Duration kShortestHang = absl::Milliseconds(100);

// The one way an RPC's result becomes gRPC's: the same code and message.
// Failures are logged at `level` (debug by default: most are the client's
// or its op's, and the client gets them).
grpc::Status Answer(const char* rpc, const absl::Status& status,
                    spdlog::level::level_enum level = spdlog::level::debug) {
  if (!status.ok()) spdlog::log(level, "{} failed: {}", rpc, status.ToString());
  return ToGrpcStatus(status);
}

absl::Time DeadlineOf(const grpc::ServerContext& context) {
  const absl::Time deadline = absl::FromChrono(context.deadline());
  return std::min(deadline, absl::Now() + kDefaultRegionWait);
}

// For the log: how the client sent the set.
const char* HowSent(const v1::RegisterKernelSetRequest& request) {
  if (request.json_attach_id() != 0) return " from a memfd";
  if (request.json_file_attach_id() != 0) return " from the client's file";
  if (request.extern_kernels_json().empty()) return " by content hash";
  return "";
}

// For the log: whether the set was parsed for this registration.
const char* HowFound(KernelSetCache::Found found) {
  switch (found) {
    case KernelSetCache::Found::kParsed:
      return "new content, parsed";
    case KernelSetCache::Found::kSameBytes:
      return "cached, the same bytes";
    case KernelSetCache::Found::kSameFile:
      return "cached, the same bytes as the file";
    case KernelSetCache::Found::kSameHash:
      return "cached, the same hash";
  }
  return "";
}

}  // namespace

ExecutorService::ExecutorService(SessionRegistry* sessions, DaemonStats* stats,
                                 const Options& options)
    : sessions_(sessions),
      stats_(stats),
      options_(options),
      crashes_(options.quarantine_crashes, options.quarantine_window),
      watchdog_(sessions, &crashes_,
                LaneWatchdog::Options{options.call_timeout, kDeadlineMargin,
                                      kShortestHang}) {
  sessions_->lane_closer()->Set(
      [this](const Session& session, const Worker& worker) {
        watchdog_.CloseLanes(session, worker);
      });
}

ExecutorService::~ExecutorService() { sessions_->lane_closer()->Set(nullptr); }

grpc::Status ExecutorService::Hello(grpc::ServerContext* context,
                                    const v1::HelloRequest* request,
                                    v1::HelloResponse* response) {
  return drain_.Run(
      [&] { return Answer("Hello", DoHello(*context, *request, response)); });
}

grpc::Status ExecutorService::RegisterKernelSet(
    grpc::ServerContext* context, const v1::RegisterKernelSetRequest* request,
    v1::RegisterKernelSetResponse* response) {
  return drain_.Run([&] {
    // A model that cannot load is worth an operator's attention; a set asked
    // for by a hash or a file the daemon does not have is the shim's usual
    // first try.
    const absl::Status registered =
        DoRegisterKernelSet(*context, *request, response);
    const bool first_try = request->extern_kernels_json().empty() &&
                           request->json_attach_id() == 0;
    return Answer("RegisterKernelSet", registered,
                  first_try && absl::IsNotFound(registered)
                      ? spdlog::level::debug
                      : spdlog::level::warn);
  });
}

grpc::Status ExecutorService::RegisterRegion(
    grpc::ServerContext* context, const v1::RegisterRegionRequest* request,
    v1::RegisterRegionResponse* response) {
  return drain_.Run([&] {
    return Answer("RegisterRegion",
                  DoRegisterRegion(*context, *request, response));
  });
}

grpc::Status ExecutorService::ReleaseRegion(
    grpc::ServerContext* context, const v1::ReleaseRegionRequest* request,
    v1::ReleaseRegionResponse* response) {
  return drain_.Run([&] {
    return Answer("ReleaseRegion",
                  DoReleaseRegion(*context, *request, response));
  });
}

grpc::Status ExecutorService::Call(grpc::ServerContext* context,
                                   const v1::CallRequest* request,
                                   v1::CallResponse* response) {
  return drain_.Run(
      [&] { return Answer("Call", DoCall(*context, *request, response)); });
}

grpc::Status ExecutorService::ReleaseOutputs(
    grpc::ServerContext* context, const v1::ReleaseOutputsRequest* request,
    v1::ReleaseOutputsResponse* response) {
  return drain_.Run([&] {
    return Answer("ReleaseOutputs",
                  DoReleaseOutputs(*context, *request, response));
  });
}

grpc::Status ExecutorService::GetStatus(grpc::ServerContext* context,
                                        const v1::GetStatusRequest* request,
                                        v1::GetStatusResponse* response) {
  if (grpc::Status denied = DenyNonAdmin(*context, "GetStatus"); !denied.ok())
    return denied;
  return drain_.Run([&] {
    return Answer("GetStatus", DoGetStatus(*context, *request, response));
  });
}

grpc::Status ExecutorService::ClearQuarantine(
    grpc::ServerContext* context, const v1::ClearQuarantineRequest* request,
    v1::ClearQuarantineResponse* response) {
  if (grpc::Status denied = DenyNonAdmin(*context, "ClearQuarantine");
      !denied.ok())
    return denied;
  return drain_.Run([&] {
    return Answer("ClearQuarantine",
                  DoClearQuarantine(*context, *request, response));
  });
}

grpc::Status ExecutorService::OpenCallLane(
    grpc::ServerContext* context, const v1::OpenCallLaneRequest* request,
    v1::OpenCallLaneResponse* response) {
  return drain_.Run([&] {
    return Answer("OpenCallLane", DoOpenCallLane(*context, *request, response));
  });
}

absl::Status ExecutorService::DoHello(const grpc::ServerContext&,
                                      const v1::HelloRequest&,
                                      v1::HelloResponse* response) {
  response->set_protocol_version(kProtocolVersion);
  response->set_attach_socket_path(sessions_->path());
  response->set_daemon_version(kDaemonVersion);
  response->set_hashes_attached_json(true);
  response->set_compares_json_files(true);
  return absl::OkStatus();
}

absl::StatusOr<KernelSetCache::Entry> ExecutorService::FindOrLoad(
    const v1::RegisterKernelSetRequest& request, Session& session,
    absl::Time deadline, KernelSetCache::Found* found) {
  if (request.json_file_attach_id() != 0) {
    return FindOrReadFile(request, session, deadline, found);
  }
  if (request.json_attach_id() != 0) {
    AOTI_ASSIGN_OR_RETURN(
        Session::AttachedFd attached,
        session.TakeAttachedFd(request.json_attach_id(), deadline));
    AOTI_ASSIGN_OR_RETURN(
        const SealedBytes json,
        SealedBytes::Map(std::move(attached.fd), "the kernel set JSON memfd",
                         attached.size, kMaxMessageBytes));
    return kernel_sets_.GetOrLoad(json.bytes(), request.device(), found);
  }
  if (!request.extern_kernels_json().empty() ||
      request.content_hash().empty()) {
    return kernel_sets_.GetOrLoad(request.extern_kernels_json(),
                                  request.device(), found);
  }
  *found = KernelSetCache::Found::kSameHash;
  std::optional<KernelSetCache::Entry> cached =
      kernel_sets_.Find(request.content_hash());
  if (!cached.has_value()) {
    return absl::NotFoundError(absl::StrCat("no kernel set with content hash ",
                                            request.content_hash(),
                                            ": send its JSON"));
  }
  if (cached->image->device() != request.device()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kernel set ", request.content_hash(), " is for device '",
        cached->image->device(), "', not '", request.device(), "'"));
  }
  return *std::move(cached);
}

absl::StatusOr<KernelSetCache::Entry> ExecutorService::FindOrReadFile(
    const v1::RegisterKernelSetRequest& request, Session& session,
    absl::Time deadline, KernelSetCache::Found* found) {
  AOTI_ASSIGN_OR_RETURN(
      Session::AttachedFd attached,
      session.TakeAttachedFd(request.json_file_attach_id(), deadline));
  AOTI_ASSIGN_OR_RETURN(const uint64_t size,
                        InPlaceFileSize(attached.fd.get()));
  std::optional<KernelSetCache::Entry> cached =
      kernel_sets_.FindFile(attached.fd.get(), size, request.device());
  if (cached.has_value()) {
    *found = KernelSetCache::Found::kSameFile;
    return *std::move(cached);
  }
  // New content (or the file changed since it was compared): what is read
  // now is what is registered, and what the client is sent back.
  AOTI_ASSIGN_OR_RETURN(
      const std::string json,
      ReadClientFile(attached.fd.get(), size, kMaxMessageBytes));
  return kernel_sets_.GetOrLoad(json, request.device(), found);
}

absl::Status ExecutorService::DoRegisterKernelSet(
    const grpc::ServerContext& context,
    const v1::RegisterKernelSetRequest& request,
    v1::RegisterKernelSetResponse* response) {
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                        sessions_->Find(request.session()));
  KernelSetCache::Found found;
  AOTI_ASSIGN_OR_RETURN(
      KernelSetCache::Entry entry,
      FindOrLoad(request, *session, DeadlineOf(context), &found));
  AOTI_RETURN_IF_ERROR(session->AddKernelSet(entry));
  // Start the session's worker now rather than in its first call.
  AOTI_RETURN_IF_ERROR(session->EnsureWorker().status());
  if (request.json_file_attach_id() != 0) {
    // The client keeps the daemon's sealed copy, not its file, which may
    // change before it reconnects or falls back to running ops itself.
    AOTI_RETURN_IF_ERROR(session->SendKernelSetJson(entry.id, *entry.image));
    response->set_sent_kernel_set_json(true);
  }
  response->set_kernel_set_id(entry.id);
  response->set_content_hash(entry.content_hash);
  // A client that has this very table (it registered the content before,
  // with this daemon or one whose ops describe it alike) is not sent it again.
  response->set_nodes_fingerprint(entry.nodes->fingerprint);
  if (request.known_nodes_fingerprint() != entry.nodes->fingerprint) {
    if (request.accepts_packed_nodes()) {
      *response->mutable_packed_nodes() = entry.nodes->packed;
    } else {
      UnpackNodes(entry.nodes->packed, response->mutable_nodes());
    }
  }
  spdlog::info("kernel set {} ({} nodes, {}) registered for pid {}{}: {}",
               entry.id, entry.kernels->size(),
               entry.content_hash.substr(0, 12), session->peer().pid,
               HowSent(request), HowFound(found));
  if (request.open_call_lane() && options_.call_lanes > 0) {
    // Last, so that no failure after it leaves a lane the client never
    // hears of. A lane that cannot be opened now is no registration error:
    // the client asks again with OpenCallLane, and its calls have the RPC.
    const absl::Status opened = OpenLane(*session, "with its registration",
                                         response->mutable_call_lane());
    if (!opened.ok()) {
      response->clear_call_lane();
      spdlog::debug("no call lane with the registration: {}",
                    opened.ToString());
    }
  }
  return absl::OkStatus();
}

absl::Status ExecutorService::DoRegisterRegion(
    const grpc::ServerContext& context,
    const v1::RegisterRegionRequest& request,
    v1::RegisterRegionResponse* response) {
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                        sessions_->Find(request.session()));
  AOTI_ASSIGN_OR_RETURN(
      uint64_t region_id,
      session->RegisterClientRegion(request.attach_id(), DeadlineOf(context)));
  auto region = session->FindRegion(region_id);
  response->set_region_id(region_id);
  response->set_byte_size(region.ok() ? (*region)->size() : 0);
  return absl::OkStatus();
}

absl::Status ExecutorService::DoReleaseRegion(
    const grpc::ServerContext&, const v1::ReleaseRegionRequest& request,
    v1::ReleaseRegionResponse*) {
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                        sessions_->Find(request.session()));
  return session->ReleaseClientRegion(request.region_id());
}

absl::Status ExecutorService::DoCall(const grpc::ServerContext& context,
                                     const v1::CallRequest& request,
                                     v1::CallResponse* response) {
  // A little before the client's own deadline, so that the client gets our
  // reason and its next call finds the hung worker already replaced.
  const absl::Time client_deadline =
      absl::FromChrono(context.deadline()) - kDeadlineMargin;
  DaemonStats::Add(stats_->rpc_calls_in_flight);
  absl::Status status = RunCall(request, client_deadline, response);
  DaemonStats::Add(stats_->rpc_calls_in_flight, -1);
  DaemonStats::Add(status.ok() ? stats_->rpc_calls_succeeded
                               : stats_->rpc_calls_failed);
  return status;
}

absl::Status ExecutorService::RunCall(const v1::CallRequest& request,
                                      absl::Time client_deadline,
                                      v1::CallResponse* response) {
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                        sessions_->Find(request.session()));
  AOTI_ASSIGN_OR_RETURN(KernelSetCache::Entry kernels,
                        session->FindKernelSet(request.kernel_set_id()));
  AOTI_ASSIGN_OR_RETURN(const OpKernel* kernel,
                        kernels.kernels->Find(request.node_index()));
  AOTI_RETURN_IF_ERROR(
      crashes_.CheckAllowed(kernels.content_hash, request.node_index()));
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<Worker> worker,
                        session->EnsureWorker());
  // The op's own time starts now: starting a replacement worker must not eat
  // it (the client's deadline still bounds the whole call).
  const absl::Time sent = absl::Now();
  const absl::Time deadline =
      std::min(client_deadline, sent + options_.call_timeout);
  // The worker validates every tensor reference against the session's
  // regions before it touches a byte; the daemon never maps client tensors.
  auto result = worker->Call(request, kernel->description(), deadline);
  if (options_.latencies != nullptr) {
    options_.latencies->Record(kernel->target(), absl::Now() - sent);
  }
  if (!result.ok()) {
    // Aborted: the worker died under the call; DeadlineExceeded: the call
    // hung and its worker was killed. An op's own errors have other codes.
    // A call left with almost no time by its client is no evidence of a hang.
    const bool hung = absl::IsDeadlineExceeded(result.status()) &&
                      deadline - sent >= kShortestHang;
    if (absl::IsAborted(result.status()) || hung) {
      crashes_.RecordCrash(kernels.content_hash, request.node_index(),
                           kernel->description(), result.status());
    }
    return result.status();
  }
  *response = *std::move(result);
  session->ForgetOutputRegions(response->retired_regions());
  for (uint64_t region_id : session->TakeRetiredRegions()) {
    response->add_retired_regions(region_id);
  }
  return absl::OkStatus();
}

absl::Status ExecutorService::DoReleaseOutputs(
    const grpc::ServerContext& context,
    const v1::ReleaseOutputsRequest& request, v1::ReleaseOutputsResponse*) {
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                        sessions_->Find(request.session()));
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<Worker> worker,
                        session->EnsureWorker());
  // Output blocks live in the worker; a call of no node carries releases.
  v1::CallRequest releases;
  releases.set_node_index(-1);
  *releases.mutable_releases() = request.releases();
  const absl::Time deadline = std::min(absl::FromChrono(context.deadline()),
                                       absl::Now() + options_.call_timeout);
  return worker->Call(releases, "releasing outputs", deadline).status();
}

DaemonSnapshot ExecutorService::Snapshot() {
  const SessionRegistry::Totals totals = sessions_->Sum();
  DaemonSnapshot s;
  s.uptime_seconds = absl::ToDoubleSeconds(absl::Now() - started_);
  s.sessions = static_cast<int64_t>(sessions_->size());
  s.kernel_sets = static_cast<int64_t>(kernel_sets_.size());
  s.workers = totals.workers;
  s.spare_workers = DaemonStats::Read(stats_->spare_workers);
  s.call_lanes = totals.call_lanes;
  s.rpc_calls_succeeded = DaemonStats::Read(stats_->rpc_calls_succeeded);
  s.rpc_calls_failed = DaemonStats::Read(stats_->rpc_calls_failed);
  s.rpc_calls_in_flight = DaemonStats::Read(stats_->rpc_calls_in_flight);
  // Lane calls of live workers (their watch pages), then of ended ones.
  s.lane_calls_succeeded = totals.lane_calls_succeeded +
                           DaemonStats::Read(stats_->lane_calls_succeeded);
  s.lane_calls_failed =
      totals.lane_calls_failed + DaemonStats::Read(stats_->lane_calls_failed);
  s.lane_calls_in_flight = totals.lane_calls_in_flight;
  s.worker_restarts = DaemonStats::Read(stats_->worker_restarts);
  s.worker_deaths_crashed = DaemonStats::Read(stats_->worker_deaths_crashed);
  s.worker_deaths_exited = DaemonStats::Read(stats_->worker_deaths_exited);
  s.worker_deaths_killed = DaemonStats::Read(stats_->worker_deaths_killed);
  for (const CrashTracker::NodeRecord& record : crashes_.Snapshot()) {
    ++s.crashed_nodes;
    if (record.quarantined) ++s.quarantined_nodes;
  }
  s.regions = totals.regions;
  s.mapped_bytes = totals.mapped_bytes;
  s.output_bytes_in_use = totals.output_bytes_in_use;
  s.output_bytes_copied = totals.output_bytes_copied;
  return s;
}

absl::Status ExecutorService::DoGetStatus(const grpc::ServerContext&,
                                          const v1::GetStatusRequest&,
                                          v1::GetStatusResponse* response) {
  const DaemonSnapshot s = Snapshot();
  response->set_daemon_version(kDaemonVersion);
  response->set_uptime_seconds(static_cast<int64_t>(s.uptime_seconds));
  response->set_sessions(s.sessions);
  response->set_kernel_sets(s.kernel_sets);
  response->set_calls_succeeded(s.rpc_calls_succeeded + s.lane_calls_succeeded);
  response->set_calls_failed(s.rpc_calls_failed + s.lane_calls_failed);
  response->set_calls_in_flight(s.rpc_calls_in_flight + s.lane_calls_in_flight);
  response->set_lane_calls(s.lane_calls_succeeded + s.lane_calls_failed);
  response->set_call_lanes(s.call_lanes);
  response->set_peers_refused(DaemonStats::Read(stats_->peers_refused_grpc) +
                              DaemonStats::Read(stats_->peers_refused_attach));
  response->set_regions(s.regions);
  response->set_mapped_bytes(s.mapped_bytes);
  response->set_output_bytes_in_use(s.output_bytes_in_use);
  response->set_output_bytes_copied(s.output_bytes_copied);
  response->set_workers(s.workers);
  response->set_spare_workers(s.spare_workers);
  response->set_worker_restarts(s.worker_restarts);
  response->set_worker_deaths(DaemonStats::Read(stats_->worker_deaths));
  for (const CrashTracker::NodeRecord& record : crashes_.Snapshot()) {
    v1::NodeCrashes* node = response->add_crashed_nodes();
    node->set_kernel_set_hash(record.kernel_set_hash);
    node->set_node_index(record.node_index);
    node->set_description(record.description);
    node->set_crashes_in_window(record.crashes_in_window);
    node->set_quarantined(record.quarantined);
    node->set_last_error(record.last_error);
  }
  return absl::OkStatus();
}

absl::Status ExecutorService::DoClearQuarantine(
    const grpc::ServerContext&, const v1::ClearQuarantineRequest&,
    v1::ClearQuarantineResponse* response) {
  response->set_cleared(crashes_.Clear());
  spdlog::warn("quarantine cleared ({} nodes were quarantined)",
               response->cleared());
  return absl::OkStatus();
}

absl::Status ExecutorService::DoOpenCallLane(
    const grpc::ServerContext&, const v1::OpenCallLaneRequest& request,
    v1::OpenCallLaneResponse* response) {
  if (options_.call_lanes == 0) {
    return absl::FailedPreconditionError(
        "call lanes are off (--call-lanes=0): use Call");
  }
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                        sessions_->Find(request.session()));
  return OpenLane(*session, "by OpenCallLane", response);
}

absl::Status ExecutorService::OpenLane(Session& session, const char* how,
                                       v1::OpenCallLaneResponse* response) {
  AOTI_ASSIGN_OR_RETURN(Session::OpenedLane opened,
                        session.OpenCallLane(options_.call_lanes));
  watchdog_.Adopt(session, opened.lane);
  response->set_lane_id(opened.lane_id);
  response->set_byte_size(opened.byte_size);
  for (uint64_t region_id : session.TakeRetiredRegions()) {
    response->add_retired_regions(region_id);
  }
  spdlog::debug("call lane {} opened for pid {} {}", opened.lane_id,
                session.peer().pid, how);
  return absl::OkStatus();
}

}  // namespace aoti_executor
