// How tensors cross between the shim and the real aoti-executord through
// shared memory (docs/protocol.md): outputs come back in the worker's memfd
// regions and are wrapped without a copy; an output sent back as an input
// travels by reference; releases ride on later calls;
// mutated inputs are written back; outputs that alias an input are views of
// the caller's tensor; staging regions are reused and grow. Values are
// checked against ATen in-process; where the data went is read from this
// process's /proc/self/maps and from the daemon's own GetStatus counters.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "tests/e2e/daemon_process.h"
#include "tests/e2e/raw_session.h"
#include "tests/e2e/shim_util.h"

namespace aoti_executor {
namespace e2e {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMiB = 1 << 20;
// The shim's smallest staging region and the daemon's output region size
// (docs/protocol.md).
constexpr int64_t kStagingMin = kMiB;
constexpr int64_t kOutputRegion = 64 * kMiB;

// The /proc/self/maps line of the mapping that holds `p`, or "".
std::string MappingOf(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range;
    fields >> range;
    const size_t dash = range.find('-');
    const uintptr_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (begin <= address && address < end) return line;
  }
  return "";
}

class SharedMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto daemon = DaemonProcess::Start();
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
    aten_ = CreateExecutor(daemon_->endpoint(), "aten_ops.json");
    ASSERT_NE(aten_, nullptr) << LastError();
  }

  v1::GetStatusResponse Status() {
    auto status = DaemonStatus(daemon_->endpoint());
    EXPECT_TRUE(status.ok()) << status.status();
    return status.ok() ? *status : v1::GetStatusResponse();
  }

  // x.repeat({rows, 2}) through the daemon: a big output from a tiny input.
  at::Tensor Repeat(at::Tensor x, int64_t rows) {
    at::Tensor out;
    EXPECT_EQ(CallNode(aten_.get(), kRepeat, {rows, 2}, {&x, &out}),
              AOTI_TORCH_SUCCESS)
        << LastError();
    EXPECT_TRUE(Same(out, x.repeat({rows, 2})));
    return out;
  }

  std::unique_ptr<DaemonProcess> daemon_;
  Executor aten_;
};

TEST_F(SharedMemoryTest,
       OutputComesBackInSharedMemoryAndTravelsBackByReference) {
  const at::Tensor x = at::arange(6, at::kFloat).reshape({2, 3});
  // [2^18, 6] floats: 6 MiB, more than the staging region holds.
  at::Tensor big = Repeat(x, 1 << 17);
  ASSERT_EQ(big.nbytes(), 6 * kMiB);
  // Wrapped in place: its bytes are in the daemon's output memfd, mapped here.
  EXPECT_THAT(MappingOf(big.data_ptr()), HasSubstr("memfd:aoti-output-region"));
  v1::GetStatusResponse before = Status();
  EXPECT_EQ(before.regions(), 2);  // the staging region, the output region
  EXPECT_EQ(before.mapped_bytes(), kStagingMin + kOutputRegion);

  // Sent back as an input, `big` goes by reference: had it been staged, the
  // staging region would have grown past 6 MiB.
  at::Tensor row = at::arange(6, at::kFloat), sum;
  ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&big, &row, &sum}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(sum, x.repeat({1 << 17, 2}) + row));
  EXPECT_THAT(MappingOf(sum.data_ptr()), HasSubstr("memfd:aoti-output-region"));
  v1::GetStatusResponse after = Status();
  EXPECT_EQ(after.regions(), 2);
  EXPECT_EQ(after.mapped_bytes(), before.mapped_bytes());
  EXPECT_EQ(after.output_bytes_in_use(), 12 * kMiB);
}

TEST_F(SharedMemoryTest, LargeOutputsAreAllocatedInSharedMemoryNotCopied) {
  // 4 MiB operands: the worker's allocator puts the op's output straight
  // into the output region, so nothing is copied after the op.
  at::Tensor a = at::rand({1 << 20}), b = at::rand({1 << 20}), sum;
  ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&a, &b, &sum}), AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(sum, a + b));
  EXPECT_THAT(MappingOf(sum.data_ptr()), HasSubstr("memfd:aoti-output-region"));
  EXPECT_EQ(Status().output_bytes_copied(), 0);
  EXPECT_EQ(Status().output_bytes_in_use(), 4 * kMiB);

  // A small output is copied: cheaper than an arena block per temporary.
  at::Tensor c = at::ones({4}), small;
  ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&c, &c, &small}),
            AOTI_TORCH_SUCCESS);
  EXPECT_EQ(Status().output_bytes_copied(), 16);
  EXPECT_EQ(Status().output_bytes_in_use(), 4 * kMiB + 64);

  // The big block goes back once the client lets go: its release rides on
  // the next call (which replaces `small`, whose release waits for the one
  // after).
  sum = at::Tensor();
  ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&c, &c, &small}),
            AOTI_TORCH_SUCCESS);
  EXPECT_EQ(Status().output_bytes_in_use(), 128);
}

TEST_F(SharedMemoryTest, ReleasesRideOnTheNextCall) {
  at::Tensor a = at::ones({4});
  {
    at::Tensor out;
    ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&a, &a, &out}),
              AOTI_TORCH_SUCCESS);
    EXPECT_EQ(Status().output_bytes_in_use(), 64);
  }
  // `out` is gone: its release rides on this call, which takes a new block.
  at::Tensor kept;
  ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&a, &a, &kept}),
            AOTI_TORCH_SUCCESS);
  EXPECT_EQ(Status().output_bytes_in_use(), 64);
  // A view keeps the block: no release while it lives.
  at::Tensor view = kept.narrow(0, 1, 2);
  kept = at::Tensor();
  at::Tensor other;
  ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&a, &a, &other}),
            AOTI_TORCH_SUCCESS);
  EXPECT_EQ(Status().output_bytes_in_use(), 128);
  EXPECT_TRUE(Same(view, at::full({2}, 2.0)));
  view = at::Tensor();
  other = at::Tensor();
  at::Tensor last;
  ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&a, &a, &last}),
            AOTI_TORCH_SUCCESS);
  EXPECT_EQ(Status().output_bytes_in_use(), 64);
  // Deleting the executor ends its session: every block is freed, also the
  // one `last` holds, which stays readable here.
  aten_.reset();
  EXPECT_TRUE(
      WaitFor([&] { return Status().sessions() == 0; }, absl::Seconds(60)));
  EXPECT_EQ(Status().output_bytes_in_use(), 0);
  EXPECT_TRUE(Same(last, at::full({4}, 2.0)));
}

TEST_F(SharedMemoryTest, MutatedStagedInputIsWrittenBackEvenWhenStrided) {
  Executor custom = CreateExecutor(daemon_->endpoint(), "custom_ops.json");
  ASSERT_NE(custom, nullptr) << LastError();
  at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  at::Tensor t0 = base.t();  // non-contiguous, shares base's storage
  at::Tensor t1 = at::full({4, 3}, 10.0);
  at::Tensor t2 = at::arange(12, at::kFloat).reshape({4, 3}) - 3;
  const at::Tensor t0_expected = t0 + t1;
  const at::Tensor t2_expected = t2 * 2;
  at::Tensor square, minus;
  ASSERT_EQ(CallNode(custom.get(), kInputMutation, {},
                     {&t0, &t1, &t2, &square, &minus}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(t0, t0_expected));
  EXPECT_TRUE(Same(base, t0_expected.t()));
  EXPECT_TRUE(Same(t2, t2_expected));
  EXPECT_TRUE(Same(t1, at::full({4, 3}, 10.0)));
  EXPECT_TRUE(Same(square, t1 * t1));
  EXPECT_TRUE(Same(minus, t1 - 5));
}

TEST_F(SharedMemoryTest, MutatedInputSentByReferenceIsMutatedInPlace) {
  Executor custom = CreateExecutor(daemon_->endpoint(), "custom_ops.json");
  ASSERT_NE(custom, nullptr) << LastError();
  // A 6 MiB output of this executor's session, from a broadcast input whose
  // few bytes fit the 1 MiB staging region.
  at::Tensor row = at::arange(6, at::kFloat).reshape({1, 6});
  at::Tensor wide = row.expand({1 << 18, 6});
  at::Tensor big;
  ASSERT_EQ(CallNode(custom.get(), kDefaultInput, {1}, {&wide, &big}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  ASSERT_TRUE(Same(big, wide.contiguous()));
  ASSERT_EQ(big.nbytes(), 6 * kMiB);
  void* const where = big.data_ptr();
  const at::Tensor view = big.narrow(0, 100, 2);
  const int64_t mapped = Status().mapped_bytes();
  EXPECT_EQ(mapped, kStagingMin + kOutputRegion);

  at::Tensor t1 = at::arange(6, at::kFloat) * 100;  // broadcast over rows
  at::Tensor t2 = at::ones({3});
  at::Tensor square, minus;
  ASSERT_EQ(CallNode(custom.get(), kInputMutation, {},
                     {&big, &t1, &t2, &square, &minus}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  const at::Tensor expected = wide + t1;
  EXPECT_TRUE(Same(big, expected));
  EXPECT_EQ(big.data_ptr(), where);
  EXPECT_TRUE(Same(view, expected.narrow(0, 100, 2)));
  EXPECT_TRUE(Same(t2, at::full({3}, 2.0)));
  EXPECT_TRUE(Same(square, t1 * t1));
  // The 6 MiB input was never staged: the staging region did not grow.
  EXPECT_EQ(Status().mapped_bytes(), mapped);
}

TEST_F(SharedMemoryTest, AliasingOutputIsAViewOfTheCallersInput) {
  at::Tensor x = at::scalar_tensor(3.5, at::kFloat);
  at::Tensor permuted;
  ASSERT_EQ(CallNode(aten_.get(), kPermute, {}, {&x, &permuted}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(permuted, at::permute(x, {})));
  EXPECT_EQ(permuted.data_ptr(), x.data_ptr());
  EXPECT_TRUE(permuted.is_alias_of(x));
  x.fill_(7);
  EXPECT_EQ(permuted.item<float>(), 7.0f);
  // No output block was handed out for it.
  EXPECT_EQ(Status().output_bytes_in_use(), 0);
}

TEST_F(SharedMemoryTest, IntsAndSeveralOutputs) {
  Executor custom = CreateExecutor(daemon_->endpoint(), "custom_ops.json");
  ASSERT_NE(custom, nullptr) << LastError();
  at::Tensor t = at::arange(5, at::kLong);
  at::Tensor plus, times;
  ASSERT_EQ(CallNode(custom.get(), kTupleOutput, {7}, {&t, &plus, &times}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(plus, t + 7));
  EXPECT_TRUE(Same(times, t * 7));

  at::Tensor t1 = at::arange(4, at::kFloat), t2 = at::full({4}, 3.0);
  at::Tensor sum, product;
  // ints: the input i, then the two int returns as compiled (i, i * 2).
  ASSERT_EQ(CallNode(custom.get(), kIntOutput, {5, 5, 10},
                     {&t1, &t2, &sum, &product}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(sum, t1 + t2));
  EXPECT_TRUE(Same(product, t1 * t2));

  at::Tensor m =
      at::tensor({5.0f, 1.0f, 4.0f, 2.0f, 3.0f, 0.0f}).reshape({2, 3});
  at::Tensor values, indices;
  ASSERT_EQ(CallNode(aten_.get(), kTopk, {2, 1}, {&m, &values, &indices}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  const auto expected = at::topk(m, 2, 1, /*largest=*/false);
  EXPECT_TRUE(Same(values, std::get<0>(expected)));
  EXPECT_TRUE(Same(indices, std::get<1>(expected)));
  EXPECT_EQ(indices.scalar_type(), at::kLong);
}

TEST_F(SharedMemoryTest, LargeInputGrowsTheStagingRegionWhichIsThenReused) {
  at::Tensor small = at::ones({16});
  {
    at::Tensor out;
    ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&small, &small, &out}),
              AOTI_TORCH_SUCCESS);
  }
  // The worker maps its output region as it starts, which a loaded machine
  // may finish after the first call's answer.
  EXPECT_TRUE(WaitFor(
      [&] { return Status().mapped_bytes() == kStagingMin + kOutputRegion; },
      absl::Seconds(60)))
      << Status().mapped_bytes();
  // Outputs are dropped before each next call, so one output region serves
  // them all: what mapped_bytes adds beyond it is staging.
  at::Tensor big = at::rand({4 << 20});  // 16 MiB
  {
    at::Tensor out;
    ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&big, &big, &out}),
              AOTI_TORCH_SUCCESS)
        << LastError();
    EXPECT_TRUE(Same(out, big * 2));
  }
  // `big` passed twice is copied once: 16 MiB of staging replaced the 1 MiB.
  v1::GetStatusResponse grown = Status();
  EXPECT_EQ(grown.regions(), 2);
  EXPECT_EQ(grown.mapped_bytes(), 16 * kMiB + kOutputRegion);
  {
    at::Tensor out;
    ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&big, &big, &out}),
              AOTI_TORCH_SUCCESS)
        << LastError();
    EXPECT_TRUE(Same(out, big * 2));
  }
  EXPECT_EQ(Status().mapped_bytes(), grown.mapped_bytes());  // reused
  // Two distinct 16 MiB inputs need a bigger one.
  at::Tensor ones = at::ones({4 << 20});
  at::Tensor out;
  ASSERT_EQ(CallNode(aten_.get(), kAdd, {}, {&big, &ones, &out}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(out, big + 1));
  v1::GetStatusResponse regrown = Status();
  EXPECT_EQ(regrown.regions(), 2);
  EXPECT_GE(regrown.mapped_bytes(), 32 * kMiB + kOutputRegion);
  EXPECT_LE(regrown.mapped_bytes(), 33 * kMiB + kOutputRegion);
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
