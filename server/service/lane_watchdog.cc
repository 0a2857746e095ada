#include "server/service/lane_watchdog.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proto/worker.pb.h"
#include "server/lane/futex.h"
#include "server/service/lane_verdict.h"
#include "server/workers/call_result.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

namespace {

constexpr absl::Duration kBusyPoll = absl::Milliseconds(5);
constexpr absl::Duration kIdlePoll = absl::Milliseconds(100);

}  // namespace

LaneWatchdog::LaneWatchdog(SessionRegistry* sessions, CrashTracker* crashes,
                           const Options& options)
    : sessions_(sessions),
      crashes_(crashes),
      options_(options),
      stats_(sessions->worker_options().stats),
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
  if (worker == nullptr) return false;
  bool any_open = false;
  for (Worker::Lane* lane : worker->lanes()) {
    if (lane->closed.load()) continue;
    any_open = true;
    Gate(session, lane);
    if (worker->death().ok()) CheckCall(session, worker.get(), lane);
  }
  return any_open;
}

void LaneWatchdog::CheckCall(const Session& session, Worker* worker,
                             Worker::Lane* lane) {
  if (lane->lane.state() == CallLane::kAbandoned) {
    worker->Kill("its client gave up a call on its call lane");
    return;
  }
  CallWatch::Call call;
  if (!lane->watch()->Read(&call) || !call.running) return;
  const int64_t limit =
      LaneCallLimitNs(call.started_ns, call.deadline_ns,
                      options_.deadline_margin, options_.call_timeout);
  if (MonotonicNanos() <= limit) return;
  {
    absl::MutexLock lock(&lane->mu);
    lane->killed_for_hang = true;
    lane->hung_kernel_set_id = call.kernel_set_id;
    lane->hung_node_index = call.node_index;
    lane->hung_run_ns = limit - call.started_ns;
  }
  // Unless the worker finished that call meanwhile.
  CallWatch::Call again;
  if (!lane->watch()->Read(&again) || again.sequence != call.sequence) {
    absl::MutexLock lock(&lane->mu);
    lane->killed_for_hang = false;
    return;
  }
  worker->Kill(
      absl::StrCat(Describe(session, call.kernel_set_id, call.node_index),
                   " ran past its deadline"));
}

void LaneWatchdog::Gate(const Session& session, Worker::Lane* lane) {
  bool gated = false;
  for (const std::string& hash : session.KernelSetHashes()) {
    gated = gated || crashes_->AnyQuarantined(hash);
  }
  // The worker enforces the watch page's flag; the lane's is the client's
  // hint, so that it sends by RPC without asking first.
  lane->watch()->gated.store(gated ? 1 : 0);
  lane->lane.SetGated(gated);
}

void LaneWatchdog::CloseLanes(const Session& session, const Worker& worker) {
  for (Worker::Lane* lane : worker.lanes()) CloseLane(session, worker, lane);
}

void LaneWatchdog::CloseLane(const Session& session, const Worker& worker,
                             Worker::Lane* lane) {
  if (lane->closed.exchange(true)) return;
  ClosedLaneFacts facts;
  facts.death = worker.death();
  facts.pid = worker.pid();
  facts.killed_by_daemon = !worker.kill_reason().empty();
  uint64_t kernel_set_id = 0;
  int64_t node_index = 0;
  {
    absl::MutexLock lock(&lane->mu);
    facts.hung = lane->killed_for_hang;
    kernel_set_id = lane->hung_kernel_set_id;
    node_index = lane->hung_node_index;
    facts.hung_run_ns = lane->hung_run_ns;
  }
  if (!facts.hung) {
    CallWatch::Call call;  // the worker is gone: the page holds still
    facts.running = lane->watch()->Read(&call) && call.running;
    kernel_set_id = call.kernel_set_id;
    node_index = call.node_index;
  }
  if (facts.hung || facts.running) {
    facts.node = Describe(session, kernel_set_id, node_index);
  }
  const ClosedLaneVerdict verdict =
      JudgeClosedLane(facts, options_.shortest_hang);
  const absl::Status& answer = verdict.answer;
  if (verdict.charge_node) {
    auto kernels = session.FindKernelSet(kernel_set_id);
    if (kernels.ok()) {
      crashes_->RecordCrash(kernels->content_hash, node_index, facts.node,
                            answer);
    }
  }
  // Recorded before the answer: the client's next call must see the
  // quarantine the crash may have started.
  Gate(session, lane);
  // A call the client gave up on was never counted by the worker.
  const bool abandoned = lane->lane.state() == CallLane::kAbandoned;
  if (lane->lane.CloseAndFail(FailedCallResult(answer).SerializeAsString()) ||
      abandoned) {
    DaemonStats::Add(stats_->lane_calls_failed);
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
