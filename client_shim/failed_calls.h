// This thread's first failed call per executor since it last asked: how a
// run learns that an extern call failed when the model's generated code
// (PyTorch before 2026) ignored the proxy call's return value.
//
// Per thread because a model makes its extern calls on the thread that runs
// it: runs on other threads, through the same executor, never see each
// other's failures.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_FAILED_CALLS_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_FAILED_CALLS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace aoti_executor {
namespace client {

// A number no other executor of this process has, even after one is freed
// and another takes its address.
uint64_t NewExecutorId();

// A call through executor `executor_id` failed on this thread with `status`
// (not OK); kept only if it is the first since the last TakeFailedCall.
void NoteFailedCall(uint64_t executor_id, const absl::Status& status) noexcept;

// The first failure noted on this thread for `executor_id` since the last
// take (OK if none), and forgets it.
absl::Status TakeFailedCall(uint64_t executor_id) noexcept;

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_FAILED_CALLS_H_
