#include "server/service/lane_watchdog.h"

#include <algorithm>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proto/worker.pb.h"
#include "server/shm/futex.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

namespace wv1 = aoti::executor::worker::v1;

namespace {

constexpr absl::Duration kBusyPoll = absl::Milliseconds(5);
constexpr absl::Duration kIdlePoll = absl::Milliseconds(100);

std::string Answer(const absl::Status& status) {
  wv1::CallResult result;
  result.set_code(static_cast<int32_t>(status.code()));
  result.set_message(std::string(status.message()));
  return result.SerializeAsString();
}

int64_t SaturatingSub(int64_t a, int64_t b) {
  return a < std::numeric_limits<int64_t>::min() + b ? a : a - b;
}

}  // namespace

LaneWatchdog::LaneWatchdog(SessionRegistry* sessions, CrashTracker* crashes,
                           const Options& options)
    : sessions_(sessions),
      crashes_(crashes),
      options_(options),
      lane_calls_failed_(sessions->worker_options().lane_calls_failed),
      thread_([this] { Loop(); }) {}

LaneWatchdog::~LaneWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.Signal();
  thread_.join();
}

void LaneWatchdog::Adopt(const Session& session, Worker::Lane* lane) {
  Gate(session, lane);
  absl::MutexLock lock(&mu_);
  poked_ = true;
  wake_.Signal();
}

void LaneWatchdog::Loop() {
  absl::Duration interval = kIdlePoll;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + interval;
      while (!stop_ && !poked_) {
        if (wake_.WaitWithDeadline(&mu_, until)) break;  // timed out
      }
      if (stop_) return;
      poked_ = false;
    }
    bool any_open = false;
    for (const std::shared_ptr<Session>& session : sessions_->Snapshot()) {
      any_open |= Check(*session);
    }
    interval = any_open ? kBusyPoll : kIdlePoll;
  }
}

bool LaneWatchdog::Check(const Session& session) {
  std::shared_ptr<Worker> worker = session.current_worker();
  Worker::Lane* lane = worker != nullptr ? worker->lane() : nullptr;
  if (lane == nullptr || lane->lane.closed()) return false;
  if (worker->exited()) {
    CloseLane(session, *worker, lane);
    return false;
  }
  Gate(session, lane);
  if (!worker->death().ok()) return true;  // killed; closed once reaped

  const CallWatch& watch = *lane->watch();
  const bool running = watch.running.load(std::memory_order_acquire) != 0;
  const uint64_t kernel_set_id = watch.kernel_set_id.load();
  const int64_t node_index = watch.node_index.load();
  const int64_t started = watch.started_ns.load();
  const int64_t client_deadline = watch.deadline_ns.load();
  const int64_t limit = std::min(
      SaturatingSub(client_deadline,
                    absl::ToInt64Nanoseconds(options_.deadline_margin)),
      started + absl::ToInt64Nanoseconds(options_.call_timeout));
  const bool abandoned = lane->lane.state() == CallLane::kAbandoned;
  if (running && (abandoned || MonotonicNanos() > limit)) {
    const std::string what = Describe(session, kernel_set_id, node_index);
    lane->killed_for_hang = true;
    lane->hung_kernel_set_id = kernel_set_id;
    lane->hung_node_index = node_index;
    lane->hung_run_ns = (abandoned ? client_deadline : limit) - started;
    worker->Kill(absl::StrCat(what, " ran past its deadline"));
  } else if (abandoned) {
    // Posted and never taken by its deadline: the worker is stuck.
    worker->Kill("it did not take a call on its lane by the call's deadline");
  }
  return true;
}

void LaneWatchdog::Gate(const Session& session, Worker::Lane* lane) {
  bool gated = false;
  for (const std::string& hash : session.KernelSetHashes()) {
    gated = gated || crashes_->AnyQuarantined(hash);
  }
  lane->lane.SetGated(gated);
}

void LaneWatchdog::CloseLane(const Session& session, const Worker& worker,
                             Worker::Lane* lane) {
  const CallWatch& watch = *lane->watch();
  const absl::Status death = worker.death();
  absl::Status answer;
  if (lane->killed_for_hang) {
    const std::string what =
        Describe(session, lane->hung_kernel_set_id, lane->hung_node_index);
    answer = absl::DeadlineExceededError(
        absl::StrCat(what, " ran past its deadline; its worker (pid ",
                     worker.pid(), ") was killed and will be replaced"));
    if (lane->hung_run_ns >= absl::ToInt64Nanoseconds(options_.shortest_hang)) {
      auto kernels = session.FindKernelSet(lane->hung_kernel_set_id);
      if (kernels.ok()) {
        crashes_->RecordCrash(kernels->content_hash, lane->hung_node_index,
                              what, answer);
      }
    }
  } else if (watch.running.load(std::memory_order_acquire) != 0) {
    const uint64_t kernel_set_id = watch.kernel_set_id.load();
    const int64_t node_index = watch.node_index.load();
    const std::string what = Describe(session, kernel_set_id, node_index);
    answer =
        absl::AbortedError(absl::StrCat(what, " failed: ", death.message()));
    auto kernels = session.FindKernelSet(kernel_set_id);
    if (kernels.ok()) {
      crashes_->RecordCrash(kernels->content_hash, node_index, what, answer);
    }
  } else {
    answer = absl::AbortedError(
        absl::StrCat("a call on the call lane failed: ", death.message()));
  }
  // Recorded before the answer: the client's next call must see the
  // quarantine the crash may have started.
  Gate(session, lane);
  if (lane->lane.CloseAndFail(Answer(answer))) {
    if (lane_calls_failed_ != nullptr) ++*lane_calls_failed_;
    spdlog::debug("lane call failed: {}", answer.ToString());
  }
}

std::string LaneWatchdog::Describe(const Session& session,
                                   uint64_t kernel_set_id,
                                   int64_t node_index) const {
  auto kernels = session.FindKernelSet(kernel_set_id);
  if (kernels.ok()) {
    auto kernel = kernels->kernels->Find(node_index);
    if (kernel.ok()) return (*kernel)->description();
  }
  return absl::StrCat("extern node ", node_index);
}

}  // namespace aoti_executor
