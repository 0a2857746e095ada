// Output blocks the client no longer holds, waiting to ride on the next
// CallRequest of their session (CallRequest.releases).
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_RELEASE_QUEUE_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_RELEASE_QUEUE_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace aoti_executor {
namespace client {

struct BlockId {
  uint64_t region_id = 0;
  uint64_t offset = 0;
};

// Thread-safe. An output tensor's deleter pushes here from whatever thread
// drops the tensor's last reference; a call drains it. Deleters hold it by
// weak_ptr, so a release outliving its session is dropped: the daemon freed
// everything of that session when it ended.
class ReleaseQueue {
 public:
  void Push(BlockId block) {
    absl::MutexLock lock(&mu_);
    pending_.push_back(block);
  }

  // Everything pushed so far; the queue is empty afterwards.
  std::vector<BlockId> Drain() {
    std::vector<BlockId> drained;
    absl::MutexLock lock(&mu_);
    drained.swap(pending_);
    return drained;
  }

  size_t size() const {
    absl::MutexLock lock(&mu_);
    return pending_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<BlockId> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_RELEASE_QUEUE_H_
