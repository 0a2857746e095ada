// RpcDrain: RPCs run until a stop, none after it, and the stop waits for
// those running, however they end.
#include "server/service/rpc_drain.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace aoti_executor {
namespace {

TEST(RpcDrainTest, RunsUntilStoppedAndRefusesAfter) {
  RpcDrain drain;
  EXPECT_EQ(drain.last_returned(), absl::InfinitePast());
  const absl::Time before = absl::Now();
  grpc::Status status = drain.Run([] {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "the handler's");
  });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "the handler's");
  EXPECT_GE(drain.last_returned(), before);

  EXPECT_TRUE(drain.Stop(absl::InfiniteFuture()));
  bool ran = false;
  status = drain.Run([&] {
    ran = true;
    return grpc::Status::OK;
  });
  EXPECT_FALSE(ran);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "aoti-executord is stopping");
}

TEST(RpcDrainTest, AStopWaitsForTheRpcRunning) {
  RpcDrain drain;
  absl::Notification entered, release;
  std::thread rpc([&] {
    drain.Run([&] {
      entered.Notify();
      release.WaitForNotification();
      return grpc::Status::OK;
    });
  });
  entered.WaitForNotification();
  // Still running: a stop whose deadline has passed says so...
  EXPECT_FALSE(drain.Stop(absl::Now()));
  // ...and one that may wait returns once it has answered.
  release.Notify();
  EXPECT_TRUE(drain.Stop(absl::InfiniteFuture()));
  rpc.join();
}

TEST(RpcDrainTest, AnRpcThatThrowsStillCountsAsReturned) {
  RpcDrain drain;
  EXPECT_THROW(drain.Run([]() -> grpc::Status {
    throw std::runtime_error("from the handler");
  }),
               std::runtime_error);
  EXPECT_TRUE(drain.Stop(absl::Now()));
}

}  // namespace
}  // namespace aoti_executor
