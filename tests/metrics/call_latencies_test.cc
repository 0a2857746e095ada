// CallLatencies: the bucket each latency lands in, concurrent recording
// from many threads, and the bounded table (ops past kMaxOps share "other").
#include "server/metrics/call_latencies.h"

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace aoti_executor {
namespace {

std::map<std::string, CallLatencies::OpHistogram> ByOp(
    const CallLatencies& latencies) {
  std::map<std::string, CallLatencies::OpHistogram> by_op;
  for (CallLatencies::OpHistogram& op : latencies.Snapshot()) {
    by_op[op.op] = op;
  }
  return by_op;
}

// The index of the first bound >= `seconds` (a bucket's bound is inclusive).
size_t BucketOf(double seconds) {
  size_t b = 0;
  while (b < CallLatencies::kBoundsSeconds.size() &&
         CallLatencies::kBoundsSeconds[b] < seconds) {
    ++b;
  }
  return b;
}

TEST(CallLatenciesTest, EachLatencyLandsInItsBucket) {
  CallLatencies latencies;
  EXPECT_TRUE(latencies.Snapshot().empty());
  latencies.Record("aten::add.Tensor", absl::Microseconds(30));   // <= 50 us
  latencies.Record("aten::add.Tensor", absl::Microseconds(100));  // <= 100 us
  latencies.Record("aten::add.Tensor", absl::Seconds(120));       // +Inf
  latencies.Record("aten::mm", absl::Milliseconds(3));            // <= 5 ms
  auto by_op = ByOp(latencies);
  ASSERT_EQ(by_op.size(), 2u);
  const CallLatencies::OpHistogram& add = by_op["aten::add.Tensor"];
  ASSERT_EQ(add.counts.size(), CallLatencies::kBuckets);
  EXPECT_EQ(add.count, 3u);
  EXPECT_EQ(add.counts[BucketOf(30e-6)], 1u);
  EXPECT_EQ(add.counts[BucketOf(100e-6)], 1u);
  EXPECT_EQ(add.counts[CallLatencies::kBuckets - 1], 1u);
  EXPECT_EQ(CallLatencies::kBoundsSeconds[BucketOf(30e-6)], 5e-5);
  EXPECT_EQ(CallLatencies::kBoundsSeconds[BucketOf(100e-6)], 1e-4);
  EXPECT_DOUBLE_EQ(add.sum_seconds, 120.00013);
  EXPECT_EQ(by_op["aten::mm"].counts[BucketOf(3e-3)], 1u);
  EXPECT_EQ(CallLatencies::kBoundsSeconds[BucketOf(3e-3)], 5e-3);
}

TEST(CallLatenciesTest, ThreadsRecordingTheSameOpsLoseNothing) {
  CallLatencies latencies;
  constexpr int kThreads = 8;
  constexpr int kCalls = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&latencies, t] {
      for (int i = 0; i < kCalls; ++i) {
        // Every thread races to claim the slots of the same four ops.
        latencies.Record(absl::StrCat("op", (i + t) % 4),
                         absl::Microseconds(1 + i % 1000));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  auto by_op = ByOp(latencies);
  ASSERT_EQ(by_op.size(), 4u);
  uint64_t total = 0;
  for (const auto& [name, op] : by_op) {
    EXPECT_EQ(op.count, static_cast<uint64_t>(kThreads * kCalls / 4)) << name;
    total += op.count;
  }
  EXPECT_EQ(total, static_cast<uint64_t>(kThreads * kCalls));
}

TEST(CallLatenciesTest, OpsPastTheTableShareOther) {
  CallLatencies latencies;
  const size_t ops = CallLatencies::kMaxOps + 10;
  for (size_t i = 0; i < ops; ++i) {
    latencies.Record(absl::StrCat("ns::op", i), absl::Milliseconds(1));
  }
  auto by_op = ByOp(latencies);
  EXPECT_EQ(by_op.size(), CallLatencies::kMaxOps + 1);
  EXPECT_EQ(by_op[CallLatencies::kOtherOp].count, 10u);
  // An op already in the table keeps its own slot.
  latencies.Record("ns::op0", absl::Milliseconds(1));
  EXPECT_EQ(ByOp(latencies)["ns::op0"].count, 2u);
}

}  // namespace
}  // namespace aoti_executor
