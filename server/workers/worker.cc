#include "server/workers/worker.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "proto/worker.pb.h"
#include "server/common/log_context.h"
#include "server/common/protocol.h"
#include "server/common/status_macros.h"
#include "server/workers/call_result.h"
#include "server/workers/message_channel.h"
#include "server/workers/process_spawn.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

namespace v1 = aoti::executor::v1;
namespace wv1 = aoti::executor::worker::v1;

struct Worker::PendingCall {
  absl::Notification done;
  absl::StatusOr<v1::CallResponse> result;
  std::string description;
};

std::vector<std::string> WorkerArgv(const WorkerOptions& options,
                                    uint64_t region_id_base) {
  std::vector<std::string> argv = {
      options.binary,
      "--worker-fd=3",
      absl::StrCat("--region-id-base=", region_id_base),
      absl::StrCat("--worker-threads=", options.threads),
      absl::StrCat("--worker-memory-limit-mb=", options.memory_limit_mb),
      absl::StrCat("--log-level=", options.log_level),
      absl::StrCat("--log-format=", options.log_format)};
  for (const std::string& library : options.libraries) {
    argv.push_back(absl::StrCat("--load-library=", library));
  }
  return argv;
}

absl::StatusOr<std::unique_ptr<Worker>> Worker::Start(
    const WorkerOptions& options, uint64_t region_id_base,
    OutputRegionFn on_output_region) {
  if (options.stats == nullptr || options.launcher == nullptr) {
    return absl::InvalidArgumentError(
        "WorkerOptions needs its stats and its launcher");
  }
  AOTI_ASSIGN_OR_RETURN(auto ends, MakeSocketPair(SOCK_SEQPACKET));
  auto [channel, child_end] = std::move(ends);
  auto pid = options.launcher->Spawn(WorkerArgv(options, region_id_base),
                                     child_end.get());
  child_end.reset();  // the worker has its own copy now
  if (!pid.ok()) return pid.status();
  std::unique_ptr<Worker> worker(new Worker(
      *pid, std::move(channel), std::move(on_output_region), options));
  AOTI_RETURN_IF_ERROR(
      worker->WaitUntilReady(absl::Now() + options.start_timeout));
  worker->reader_ = std::thread([w = worker.get()] { w->ReadLoop(); });
  const LogContext context({{"worker_pid", worker->pid_}});
  spdlog::info("worker pid {} started", worker->pid_);
  return worker;
}

Worker::Worker(pid_t pid, UniqueFd channel, OutputRegionFn on_output_region,
               const WorkerOptions& options)
    : pid_(pid),
      channel_(std::move(channel)),
      stats_(options.stats),
      launcher_(options.launcher) {
  absl::MutexLock lock(&mu_);
  on_output_region_ = std::move(on_output_region);
}

Worker::~Worker() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  // Closing our end is the orderly stop: the worker reads EOF and exits,
  // even while an op of it still runs. ReadLoop then reaps it, and kills it
  // if it lingers.
  shutdown(channel_.get(), SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  bool reaped;
  {
    absl::MutexLock lock(&mu_);
    reaped = reaped_;
  }
  if (!reaped) Reap();  // it never started reading (a failed start)
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<Lane>& lane : lanes_) {
    if (lane->closed.exchange(true)) continue;
    // Usually closed already by the exit callback, naming the node; a worker
    // that never got one (a spare, or a failed start) closes them here.
    const std::string why = death_.ok() ? "the session's worker stopped"
                                        : std::string(death_.message());
    const wv1::CallResult answer = FailedCallResult(absl::AbortedError(
        absl::StrCat("a call on the call lane failed: ", why)));
    if (lane->lane.CloseAndFail(answer.SerializeAsString())) {
      DaemonStats::Add(stats_->lane_calls_failed);
    }
  }
  FoldLaneCountsLocked();
}

void Worker::FoldLaneCounts() {
  absl::MutexLock lock(&mu_);
  FoldLaneCountsLocked();
}

void Worker::FoldLaneCountsLocked() {
  for (const std::unique_ptr<Lane>& lane : lanes_) {
    const int64_t succeeded = lane->watch()->calls_succeeded.load();
    const int64_t failed = lane->watch()->calls_failed.load();
    DaemonStats::Add(stats_->lane_calls_succeeded,
                     succeeded - lane->folded_succeeded);
    DaemonStats::Add(stats_->lane_calls_failed, failed - lane->folded_failed);
    lane->folded_succeeded = succeeded;
    lane->folded_failed = failed;
  }
}

std::string Worker::Reap() {
  const absl::StatusOr<int> status = WaitForExit();
  {
    // Even if waitpid failed: the pid is not ours to signal any more.
    absl::MutexLock lock(&mu_);
    reaped_ = true;
    died_of_signal_ = status.ok() && WIFSIGNALED(*status);
  }
  if (!status.ok()) {
    spdlog::error("worker pid {}: {}", pid_, status.status().ToString());
    return absl::StrCat("could not be reaped (", status.status().message(),
                        ")");
  }
  return DescribeWaitStatus(*status);
}

absl::StatusOr<int> Worker::WaitForExit() {
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  while (true) {
    AOTI_ASSIGN_OR_RETURN(std::optional<int> status, launcher_->TryWait(pid_));
    if (status.has_value()) return *status;
    if (absl::Now() > give_up) break;
    absl::SleepFor(absl::Milliseconds(1));
  }
  if (absl::Status killed = launcher_->Kill(pid_, SIGKILL); !killed.ok()) {
    spdlog::error("worker pid {} lingers: {}", pid_, killed.ToString());
  }
  return launcher_->Wait(pid_);
}

absl::Status Worker::WaitUntilReady(absl::Time deadline) {
  wv1::FromWorker message;
  auto fd = ReceiveMessage(channel_.get(), &message, deadline);
  if (fd.ok() && message.has_ready()) return absl::OkStatus();
  // If it ended by itself the signal changes nothing: the reap says how.
  launcher_->Kill(pid_, SIGKILL).IgnoreError();
  const std::string how = Reap();
  return absl::UnavailableError(absl::StrCat(
      "worker pid ", pid_, " did not start: ",
      fd.ok() ? "unexpected first message" : fd.status().ToString(), "; it ",
      how));
}

void Worker::ReadLoop() {
  while (true) {
    wv1::FromWorker message;
    auto fd = ReceiveMessage(channel_.get(), &message);
    if (!fd.ok()) break;
    if (message.has_output_region()) {
      OutputRegionFn forward;
      {
        absl::MutexLock lock(&mu_);
        forward = on_output_region_;
      }
      forward(message.output_region().region_id(),
              message.output_region().byte_size(), *std::move(fd));
      continue;
    }
    if (message.has_output_region_retired()) {
      RegionRetiredFn retired;
      {
        absl::MutexLock lock(&mu_);
        retired = on_region_retired_;
      }
      if (retired) retired(message.output_region_retired().region_id());
      continue;
    }
    if (!message.has_call_result()) continue;
    const wv1::CallResult& result = message.call_result();
    output_bytes_in_use_ = result.output_bytes_in_use();
    output_bytes_copied_ = result.output_bytes_copied();
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(result.call_id());
    if (it == pending_.end()) continue;  // its caller gave up at its deadline
    PendingCall* call = it->second;
    pending_.erase(it);
    if (result.code() == 0) {
      call->result = result.response();
    } else {
      call->result =
          absl::Status(FailureCodeFromWire(result.code()), result.message());
    }
    call->done.Notify();
  }
  // The channel closed: the worker exited or was killed. Reap it to learn how.
  const LogContext context({{"worker_pid", pid_}});
  const std::string ended = Reap();
  std::string reason;
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    reason = kill_reason_;
    stopping = stopping_;
  }
  const std::string how = absl::StrCat("worker pid ", pid_, " ", ended);
  if (stopping) {
    spdlog::info("{} (its session ended)", how);
    Die(absl::CancelledError(absl::StrCat(how, ": its session ended")));
  } else {
    Die(absl::AbortedError(reason.empty() ? how
                                          : absl::StrCat(how, ": ", reason)));
  }
  ExitFn on_exit;
  {
    absl::MutexLock lock(&mu_);
    on_exit = on_exit_;
  }
  if (on_exit) on_exit(this);
}

void Worker::Die(const absl::Status& reason) {
  absl::MutexLock lock(&mu_);
  if (death_.ok()) {
    death_ = reason;
    if (!absl::IsCancelled(reason)) {
      // The one log of this worker's death; the reason says how it died.
      const LogContext context(
          {{"event", "worker_died"}, {"worker_pid", pid_}});
      spdlog::warn("{}", std::string(reason.message()));
      DaemonStats::Add(stats_->worker_deaths);
      // A kill reason means the daemon killed it; otherwise the reap said
      // whether a signal ended it.
      DaemonStats::Add(!kill_reason_.empty() ? stats_->worker_deaths_killed
                       : died_of_signal_     ? stats_->worker_deaths_crashed
                                             : stats_->worker_deaths_exited);
    }
  }
  for (auto& [id, call] : pending_) {
    call->result = absl::Status(
        death_.code(),
        absl::StrCat(call->description, " failed: ", death_.message()));
    call->done.Notify();
  }
  pending_.clear();
}

absl::Status Worker::death() const {
  absl::MutexLock lock(&mu_);
  return death_;
}

void Worker::Kill(const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (reaped_) return;  // the pid may belong to someone else by now
    if (kill_reason_.empty()) kill_reason_ = reason;
    if (absl::Status killed = launcher_->Kill(pid_, SIGKILL); !killed.ok()) {
      // Dead to the daemon all the same; the destructor's closing of the
      // channel and its reap (SIGKILL again if it lingers) end it.
      spdlog::error("worker pid {}: {}", pid_, killed.ToString());
    }
  }
  // Dead from now on, before the reader sees the channel close: the next
  // call must get a new worker, not this one.
  Die(absl::AbortedError(
      absl::StrCat("worker pid ", pid_, " was killed: ", reason)));
}

absl::Status Worker::Send(const google::protobuf::MessageLite& message,
                          int fd) {
  absl::MutexLock lock(&send_mu_);
  return SendMessage(channel_.get(), message, fd);
}

absl::Status Worker::RegisterKernelSet(uint64_t kernel_set_id,
                                       const KernelSetImage& image) {
  wv1::ToWorker message;
  *message.mutable_register_kernel_set() = image.Describe(kernel_set_id);
  return Send(message, image.fd());
}

absl::Status Worker::AssignSession(uint64_t region_id_base,
                                   OutputRegionFn on_output_region,
                                   RegionRetiredFn on_region_retired,
                                   ExitFn on_exit) {
  {
    absl::MutexLock lock(&mu_);
    on_output_region_ = std::move(on_output_region);
    on_region_retired_ = std::move(on_region_retired);
    on_exit_ = std::move(on_exit);
  }
  wv1::ToWorker message;
  message.mutable_assign_session()->set_region_id_base(region_id_base);
  return Send(message);
}

absl::Status Worker::MapRegion(uint64_t region_id, const SharedRegion& region) {
  wv1::ToWorker message;
  message.mutable_map_region()->set_region_id(region_id);
  message.mutable_map_region()->set_byte_size(region.size());
  return Send(message, region.fd());
}

absl::Status Worker::UnmapRegion(uint64_t region_id) {
  wv1::ToWorker message;
  message.mutable_unmap_region()->set_region_id(region_id);
  return Send(message);
}

absl::StatusOr<Worker::Lane*> Worker::AddLane(size_t max_lanes) {
  absl::MutexLock adding(&add_lane_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (lanes_.size() >= max_lanes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the session has ", lanes_.size(), " call lanes, the most allowed"));
    }
  }
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<SharedRegion> region,
                        CallLane::CreateRegion());
  AOTI_ASSIGN_OR_RETURN(CallLane lane, CallLane::Over(region));
  AOTI_ASSIGN_OR_RETURN(
      SharedRegion watch,
      SharedRegion::Create("aoti-call-watch", CallWatch::kBytes));
  auto made = std::make_unique<Lane>(
      std::move(lane), std::make_shared<SharedRegion>(std::move(watch)));
  wv1::ToWorker page;
  page.mutable_watch_page()->set_byte_size(CallWatch::kBytes);
  AOTI_RETURN_IF_ERROR(Send(page, made->watch_region->fd()));
  wv1::ToWorker open;
  open.mutable_open_lane()->set_byte_size(region->size());
  AOTI_RETURN_IF_ERROR(Send(open, region->fd()));
  absl::MutexLock lock(&mu_);
  lanes_.push_back(std::move(made));
  return lanes_.back().get();
}

std::vector<Worker::Lane*> Worker::lanes() const {
  absl::MutexLock lock(&mu_);
  std::vector<Lane*> lanes;
  lanes.reserve(lanes_.size());
  for (const std::unique_ptr<Lane>& lane : lanes_) lanes.push_back(lane.get());
  return lanes;
}

uint64_t Worker::output_bytes_in_use() const {
  // Once a lane is open the worker keeps its first watch page current on
  // every call; before that, only the answers that pass here say.
  std::vector<Lane*> open = lanes();
  if (!open.empty()) return open[0]->watch()->output_bytes_in_use.load();
  return output_bytes_in_use_.load();
}

uint64_t Worker::output_bytes_copied() const {
  std::vector<Lane*> open = lanes();
  if (!open.empty()) return open[0]->watch()->output_bytes_copied.load();
  return output_bytes_copied_.load();
}

std::string Worker::kill_reason() const {
  absl::MutexLock lock(&mu_);
  return kill_reason_;
}

absl::Status Worker::Sync(absl::Time deadline) {
  PendingCall call;
  call.description = "syncing with the worker";
  wv1::ToWorker message;
  {
    absl::MutexLock lock(&mu_);
    if (!death_.ok()) return death_;
    const uint64_t id = next_call_id_++;
    pending_[id] = &call;
    message.mutable_sync()->set_call_id(id);
  }
  const uint64_t id = message.sync().call_id();
  absl::Status sent = Send(message);
  if (sent.ok() && call.done.WaitForNotificationWithDeadline(deadline)) {
    return call.result.status();
  }
  bool still_pending;
  {
    absl::MutexLock lock(&mu_);
    still_pending = pending_.erase(id) > 0;
  }
  if (still_pending) {
    return sent.ok() ? absl::DeadlineExceededError(absl::StrCat(
                           "worker pid ", pid_, " did not sync in time"))
                     : sent;
  }
  call.done.WaitForNotification();  // answered or failed just now
  return call.result.status();
}

absl::StatusOr<v1::CallResponse> Worker::Call(const v1::CallRequest& request,
                                              const std::string& description,
                                              absl::Time deadline) {
  PendingCall call;
  call.description = description;
  wv1::ToWorker message;
  {
    absl::MutexLock lock(&mu_);
    if (!death_.ok()) {
      return absl::Status(
          death_.code(),
          absl::StrCat(description, " failed: ", death_.message()));
    }
    const uint64_t id = next_call_id_++;
    pending_[id] = &call;
    message.mutable_run_call()->set_call_id(id);
  }
  *message.mutable_run_call()->mutable_request() = request;
  const uint64_t id = message.run_call().call_id();
  if (absl::Status sent = Send(message); !sent.ok()) {
    absl::MutexLock lock(&mu_);
    if (pending_.erase(id) > 0) {
      return WithContext(
          sent, absl::StrCat(description, ": sending to worker pid ", pid_));
    }
    // The reader failed it already (the worker died): fall through.
  }
  if (!call.done.WaitForNotificationWithDeadline(deadline)) {
    bool still_pending;
    {
      absl::MutexLock lock(&mu_);
      still_pending = pending_.erase(id) > 0;
    }
    if (still_pending) {
      Kill(absl::StrCat(description, " ran past its deadline"));
      return absl::DeadlineExceededError(
          absl::StrCat(description, " ran past its deadline; its worker (pid ",
                       pid_, ") was killed and will be replaced"));
    }
    // Answered just now, or failed by a death: that result stands.
    call.done.WaitForNotification();
  }
  return std::move(call.result);
}

}  // namespace aoti_executor
