#include "client_shim/failed_calls.h"

#include <algorithm>
#include <atomic>
#include <utility>
#include <vector>

namespace aoti_executor {
namespace client {
namespace {

struct FailedCall {
  uint64_t executor_id;
  absl::Status status;
};

// A thread runs few executors' models: a short list beats a map. Entries
// of executors freed without asking stay until the thread ends.
thread_local std::vector<FailedCall> failed_calls;
// A failure could not be noted (out of memory): the next take of any
// executor on this thread reports it rather than say nothing failed.
thread_local bool lost_failure = false;

}  // namespace

uint64_t NewExecutorId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void NoteFailedCall(uint64_t executor_id, const absl::Status& status) noexcept {
  for (const FailedCall& failed : failed_calls) {
    if (failed.executor_id == executor_id) return;
  }
  try {
    failed_calls.push_back({executor_id, status});
  } catch (...) {
    lost_failure = true;
  }
}

absl::Status TakeFailedCall(uint64_t executor_id) noexcept {
  auto it = std::find_if(failed_calls.begin(), failed_calls.end(),
                         [executor_id](const FailedCall& failed) {
                           return failed.executor_id == executor_id;
                         });
  if (it == failed_calls.end()) {
    if (!lost_failure) return absl::OkStatus();
    lost_failure = false;
    return absl::Status(absl::StatusCode::kResourceExhausted,
                        "an extern call failed, and running out of memory "
                        "lost its message");
  }
  absl::Status status = std::move(it->status);
  failed_calls.erase(it);
  return status;
}

}  // namespace client
}  // namespace aoti_executor
