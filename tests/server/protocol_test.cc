// What the daemon, its workers and the shim agree on: a worker's failure
// code becomes a status code callers know, whatever the worker sent.
#include "server/common/protocol.h"

#include "gtest/gtest.h"

namespace aoti_executor {
namespace {

TEST(FailureCodeFromWireTest, KeepsTheCodesGrpcDefines) {
  // grpc/status.h numbering, which absl::StatusCode shares.
  EXPECT_EQ(FailureCodeFromWire(1), absl::StatusCode::kCancelled);
  EXPECT_EQ(FailureCodeFromWire(5), absl::StatusCode::kNotFound);
  EXPECT_EQ(FailureCodeFromWire(10), absl::StatusCode::kAborted);
  EXPECT_EQ(FailureCodeFromWire(16), absl::StatusCode::kUnauthenticated);
}

TEST(FailureCodeFromWireTest, AnythingElseIsUnknown) {
  // 0 is success, not a failure; the rest no caller handles.
  for (int code : {0, -1, 17, 99, 1 << 30}) {
    EXPECT_EQ(FailureCodeFromWire(code), absl::StatusCode::kUnknown) << code;
  }
}

}  // namespace
}  // namespace aoti_executor
