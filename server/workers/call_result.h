// A call that failed, as the CallResult (worker.proto) its caller reads: how
// the worker, its lane server and the daemon (closing a dead worker's lanes)
// all answer a call with a status, so the client reads one shape.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_CALL_RESULT_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_CALL_RESULT_H_

#include <string>

#include "absl/status/status.h"
#include "proto/worker.pb.h"

namespace aoti_executor {

inline aoti::executor::worker::v1::CallResult FailedCallResult(
    const absl::Status& status) {
  aoti::executor::worker::v1::CallResult result;
  result.set_code(static_cast<int32_t>(status.code()));
  result.set_message(std::string(status.message()));
  return result;
}

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_CALL_RESULT_H_
