#include "server/workers/worker_pool.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {
namespace {

absl::StatusOr<std::unique_ptr<Worker>> StartUnassigned(
    const WorkerOptions& options) {
  // Region ids come with AssignSession; nothing is announced before that.
  return Worker::Start(options, /*region_id_base=*/0,
                       [](uint64_t, uint64_t, UniqueFd) {});
}

WorkerOptions WithLauncher(WorkerOptions options, ProcessLauncher* launcher) {
  options.launcher = launcher;
  return options;
}

std::unique_ptr<ZygoteLauncher> MaybeZygoteLauncher(
    const WorkerOptions& options) {
  if (options.launcher != ProcessLauncher::Real()) return nullptr;
  return std::make_unique<ZygoteLauncher>(
      WorkerArgv(options, /*region_id_base=*/0), options.start_timeout);
}

}  // namespace

absl::StatusOr<pid_t> WorkerPool::SpareLauncher::Spawn(
    const std::vector<std::string>& argv, int child_fd) {
  // Spawns under mu_, so that Refuse either prevents the spawn or sees its
  // pid: no spare escapes it.
  absl::MutexLock lock(&mu_);
  if (refused_) return absl::UnavailableError("the daemon is stopping");
  absl::StatusOr<pid_t> pid = real_->Spawn(argv, child_fd);
  if (pid.ok()) starting_ = *pid;
  return pid;
}

absl::Status WorkerPool::SpareLauncher::Kill(pid_t pid, int signal) {
  return real_->Kill(pid, signal);
}

absl::StatusOr<std::optional<int>> WorkerPool::SpareLauncher::TryWait(
    pid_t pid) {
  return real_->TryWait(pid);
}

absl::StatusOr<int> WorkerPool::SpareLauncher::Wait(pid_t pid) {
  return real_->Wait(pid);
}

void WorkerPool::SpareLauncher::Started() {
  absl::MutexLock lock(&mu_);
  starting_.reset();
}

void WorkerPool::SpareLauncher::Refuse() {
  absl::MutexLock lock(&mu_);
  refused_ = true;
  // Worker::Start, waiting for its ready message, sees it die and reaps it.
  if (starting_.has_value()) real_->Kill(*starting_, SIGKILL).IgnoreError();
}

WorkerPool::WorkerPool(const WorkerOptions* options, size_t spares)
    : options_(options),
      zygote_launcher_(MaybeZygoteLauncher(*options)),
      take_options_(WithLauncher(*options, zygote_launcher_ != nullptr
                                               ? zygote_launcher_.get()
                                               : options->launcher)),
      spare_launcher_(take_options_.launcher),
      spare_options_(WithLauncher(*options, &spare_launcher_)),
      spare_count_(spares),
      starter_([this] { KeepSpares(); }) {}

WorkerPool::~WorkerPool() {
  StopStarting();
  starter_.join();
}

void WorkerPool::StopStarting() {
  std::deque<std::unique_ptr<Worker>> spares;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    spares.swap(spares_);
    CountSpares(-static_cast<int64_t>(spares.size()));
  }
  spare_launcher_.Refuse();
  // Outside mu_: stopping a worker joins its reader thread.
  spares.clear();
}

void WorkerPool::CountSpares(int64_t delta) {
  if (options_->stats != nullptr) {
    DaemonStats::Add(options_->stats->spare_workers, delta);
  }
}

bool WorkerPool::NeedsWork() const {
  return stopping_ || spares_.size() < spare_count_;
}

bool WorkerPool::SparesOrStopping() const {
  return stopping_ || spares_.size() >= spare_count_;
}

bool WorkerPool::WaitForSpares(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithDeadline(absl::Condition(this, &WorkerPool::SparesOrStopping),
                        deadline);
  return !stopping_ && spares_.size() >= spare_count_;
}

void WorkerPool::KeepSpares() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &WorkerPool::NeedsWork));
      if (stopping_) return;
    }
    auto started = StartUnassigned(spare_options_);
    spare_launcher_.Started();
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_ && started.ok()) {
        spdlog::debug("spare worker pid {} ready ({} of {})", (*started)->pid(),
                      spares_.size() + 1, spare_count_);
        spares_.push_back(*std::move(started));
        CountSpares(1);
        backoff = absl::Milliseconds(100);
        continue;
      }
      if (!stopping_) {
        spdlog::error("cannot start a spare worker: {}",
                      started.status().ToString());
        // Do not spin on a binary or library that cannot start; Take()
        // still starts workers itself and reports why they fail.
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
        backoff = std::min(backoff * 2, absl::Seconds(10));
        continue;
      }
    }
    // Stopping: StopStarting killed this start, or it finished just before
    // (then it was killed as it started, and may be logged as a death).
    // Either way no spare: `started` is stopped here, outside mu_.
    return;
  }
}

absl::StatusOr<std::unique_ptr<Worker>> WorkerPool::Take() {
  std::vector<std::unique_ptr<Worker>> dead;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::UnavailableError("the daemon is stopping: no new worker");
    }
    while (!spares_.empty()) {  // a spare taken wakes KeepSpares
      std::unique_ptr<Worker> spare = std::move(spares_.front());
      spares_.pop_front();
      CountSpares(-1);
      if (spare->death().ok()) return spare;
      dead.push_back(std::move(spare));  // stopped outside mu_
    }
  }
  spdlog::debug("no spare worker is ready: starting one for the session");
  return StartUnassigned(take_options_);
}

}  // namespace aoti_executor
