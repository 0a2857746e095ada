#include "server/workers/worker_pool.h"

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
                       [](uint64_t, uint64_t, int fd) { close(fd); });
}

}  // namespace

WorkerPool::WorkerPool(const WorkerOptions* options)
    : options_(options), starter_([this] { KeepASpare(); }) {}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  starter_.join();
  absl::MutexLock lock(&mu_);
  spare_.reset();
}

bool WorkerPool::NeedsWork() const { return stopping_ || spare_ == nullptr; }

void WorkerPool::KeepASpare() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &WorkerPool::NeedsWork));
      if (stopping_) return;
    }
    auto started = StartUnassigned(*options_);
    absl::MutexLock lock(&mu_);
    if (started.ok()) {
      spare_ = *std::move(started);
      backoff = absl::Milliseconds(100);
      continue;
    }
    spdlog::error("cannot start a spare worker: {}",
                  started.status().ToString());
    // Do not spin on a binary or library that cannot start; Take() still
    // starts workers itself and reports why they fail.
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

absl::StatusOr<std::unique_ptr<Worker>> WorkerPool::Take() {
  {
    absl::MutexLock lock(&mu_);
    std::unique_ptr<Worker> spare = std::move(spare_);  // wakes KeepASpare
    if (spare != nullptr && spare->death().ok()) return spare;
  }
  return StartUnassigned(*options_);
}

}  // namespace aoti_executor
