// The whole shim, through its C ABI, against FakeDaemon: calls shaped the way
// AOTI's generated code makes them (outputs as undefined at::Tensor handles,
// flat arrays in call-site order).
#include <ATen/ATen.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "aoti_remote/executor.h"
#include "client_shim/remote_executor.h"
#include "gtest/gtest.h"
#include "tests/client_shim/fake_daemon.h"

namespace aoti_executor {
namespace {

using client::RemoteExecutor;
using testing::FakeDaemon;

AtenTensorHandle H(at::Tensor* tensor) {
  return reinterpret_cast<AtenTensorHandle>(tensor);
}

std::string LastError() { return aoti_remote_last_error(); }

class ShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/aoti-shim-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    json_ = dir_ + "/model.wrapper.json";
    std::ofstream(json_) << R"({"nodes": []})";
    daemon_ = std::make_unique<FakeDaemon>(dir_);
    ASSERT_TRUE(daemon_->Start().ok());
    unsetenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS");
    executor_ = Create();
    ASSERT_NE(executor_, nullptr) << LastError();
  }

  void TearDown() override {
    for (AOTIProxyExecutorHandle executor : executors_) {
      EXPECT_EQ(aoti_remote_executor_delete(executor), AOTI_TORCH_SUCCESS);
    }
    daemon_->Stop();
    unlink(json_.c_str());
    rmdir(dir_.c_str());
  }

  AOTIProxyExecutorHandle Create() {
    AOTIProxyExecutorHandle executor = nullptr;
    if (aoti_remote_executor_create(daemon_->endpoint().c_str(), json_.c_str(),
                                    "cpu", &executor) != AOTI_TORCH_SUCCESS) {
      return nullptr;
    }
    executors_.push_back(executor);
    return executor;
  }

  AOTITorchError Call(AOTIProxyExecutorHandle executor, int node,
                      std::vector<int64_t> ints,
                      std::vector<at::Tensor*> tensors) {
    std::vector<AtenTensorHandle> handles;
    for (at::Tensor* tensor : tensors) handles.push_back(H(tensor));
    return aoti_remote_executor_call_function(
        executor, node, static_cast<int>(ints.size()), ints.data(),
        static_cast<int>(handles.size()), handles.data());
  }
  AOTITorchError Call(int node, std::vector<int64_t> ints,
                      std::vector<at::Tensor*> tensors) {
    return Call(executor_, node, std::move(ints), std::move(tensors));
  }

  std::string dir_;
  std::string json_;
  std::unique_ptr<FakeDaemon> daemon_;
  AOTIProxyExecutorHandle executor_ = nullptr;
  std::vector<AOTIProxyExecutorHandle> executors_;
};

TEST_F(ShimTest, OutputComesBackInSharedMemoryAndTravelsBackByReference) {
  at::Tensor a = at::arange(6, at::kFloat).reshape({2, 3});
  at::Tensor b = at::ones({2, 3});
  at::Tensor out;  // what aoti_torch_new_uninitialized_tensor makes
  ASSERT_EQ(Call(testing::kAdd, {}, {&a, &b, &out}), AOTI_TORCH_SUCCESS)
      << LastError();
  ASSERT_TRUE(out.defined());
  EXPECT_TRUE(at::equal(out, a + b));
  EXPECT_EQ(daemon_->stats().staged_inputs, 2);
  EXPECT_EQ(daemon_->stats().output_regions, 1);
  EXPECT_EQ(daemon_->stats().client_regions, 1);

  // The output lies in a region the daemon knows: sent without a copy.
  at::Tensor again;
  ASSERT_EQ(Call(testing::kAdd, {}, {&out, &b, &again}), AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(at::equal(again, a + 2));
  EXPECT_EQ(daemon_->stats().by_reference_inputs, 1);
  EXPECT_EQ(daemon_->stats().staged_inputs, 3);
  EXPECT_EQ(daemon_->stats().client_regions, 1);  // staging reused
}

TEST_F(ShimTest, ReleasesRideOnTheNextCall) {
  at::Tensor a = at::ones({4});
  {
    at::Tensor out;
    ASSERT_EQ(Call(testing::kAdd, {}, {&a, &a, &out}), AOTI_TORCH_SUCCESS);
    EXPECT_EQ(daemon_->stats().live_blocks, 1);
  }
  at::Tensor kept;
  ASSERT_EQ(Call(testing::kAdd, {}, {&a, &a, &kept}), AOTI_TORCH_SUCCESS);
  EXPECT_EQ(daemon_->stats().releases, 1);
  EXPECT_EQ(daemon_->stats().bad_releases, 0);
  EXPECT_EQ(daemon_->stats().live_blocks, 1);  // only `kept`
  // A view keeps the block: no release while it lives.
  at::Tensor view = kept.narrow(0, 1, 2);
  kept = at::Tensor();
  at::Tensor other;
  ASSERT_EQ(Call(testing::kAdd, {}, {&a, &a, &other}), AOTI_TORCH_SUCCESS);
  EXPECT_EQ(daemon_->stats().releases, 1);
  EXPECT_TRUE(at::equal(view, at::full({2}, 2.0)));
}

TEST_F(ShimTest, MutatedStagedInputIsWrittenBackEvenWhenStrided) {
  at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  at::Tensor self = base.t();  // non-contiguous, shares base's storage
  at::Tensor other = at::full({4, 3}, 10.0);
  const at::Tensor expected = self + other * 3;
  ASSERT_EQ(Call(testing::kAddInPlace, {3}, {&self, &other}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(at::equal(self, expected));
  EXPECT_TRUE(at::equal(base, expected.t()));
  EXPECT_TRUE(at::equal(other, at::full({4, 3}, 10.0)));
}

TEST_F(ShimTest, MutatedInputSentByReferenceIsMutatedInPlace) {
  at::Tensor a = at::ones({5});
  at::Tensor out;
  ASSERT_EQ(Call(testing::kAdd, {}, {&a, &a, &out}), AOTI_TORCH_SUCCESS);
  ASSERT_EQ(Call(testing::kAddInPlace, {1}, {&out, &a}), AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(at::equal(out, at::full({5}, 3.0)));
  EXPECT_EQ(daemon_->stats().by_reference_inputs, 1);
}

TEST_F(ShimTest, AliasingOutputIsAViewOfTheCallersInput) {
  at::Tensor x = at::arange(8, at::kFloat).reshape({4, 2});
  at::Tensor tail;
  ASSERT_EQ(Call(testing::kTail, {}, {&x, &tail}), AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(at::equal(tail, x.narrow(0, 1, 3)));
  EXPECT_EQ(tail.data_ptr(), x.narrow(0, 1, 3).data_ptr());
  EXPECT_TRUE(tail.is_alias_of(x));
  x.fill_(7);
  EXPECT_TRUE(at::equal(tail, at::full({3, 2}, 7.0)));
  EXPECT_EQ(daemon_->stats().releases + daemon_->stats().live_blocks, 0);
}

TEST_F(ShimTest, IntsAndSeveralOutputs) {
  at::Tensor x = at::arange(3, at::kLong);
  at::Tensor scaled;
  ASSERT_EQ(Call(testing::kScale, {5, 5}, {&x, &scaled}), AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(at::equal(scaled, x * 5));
  EXPECT_EQ(scaled.scalar_type(), at::kLong);

  at::Tensor twice, plus_one;
  ASSERT_EQ(Call(testing::kSplit, {}, {&x, &twice, &plus_one}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(at::equal(twice, x * 2));
  EXPECT_TRUE(at::equal(plus_one, x + 1));
}

TEST_F(ShimTest, CountsAndIndicesAreCheckedNamingNodeAndNumbers) {
  at::Tensor x = at::ones({2});
  at::Tensor out;
  EXPECT_EQ(Call(testing::kScale, {5}, {&x, &out}), AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("extern node 3 (test::scale): expected 2 ints "
                             "(1 inputs + 1 int outputs), got 1"),
            std::string::npos)
      << LastError();
  EXPECT_EQ(Call(testing::kAdd, {}, {&x, &out}), AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("extern node 0 (test::add): expected 3 tensors "
                             "(2 inputs + 1 outputs), got 2"),
            std::string::npos)
      << LastError();
  EXPECT_EQ(Call(7, {}, {}), AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("extern node index 7 is out of range"),
            std::string::npos)
      << LastError();
  EXPECT_NE(LastError().find(json_), std::string::npos);
  EXPECT_EQ(Call(-1, {}, {}), AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("extern node index -1 is negative"),
            std::string::npos)
      << LastError();
  at::Tensor undefined;
  EXPECT_EQ(Call(testing::kAdd, {}, {&x, &undefined, &out}),
            AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("input tensor 1 is undefined"), std::string::npos)
      << LastError();
  EXPECT_FALSE(out.defined());
  EXPECT_EQ(daemon_->stats().calls, 0);
}

TEST_F(ShimTest, DaemonErrorFailsTheCallAndTheNextOneWorks) {
  EXPECT_EQ(Call(testing::kFail, {}, {}), AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("INVALID_ARGUMENT"), std::string::npos);
  EXPECT_NE(LastError().find("always fails"), std::string::npos) << LastError();
  at::Tensor x = at::ones({2}), out;
  EXPECT_EQ(Call(testing::kAdd, {}, {&x, &x, &out}), AOTI_TORCH_SUCCESS);
  EXPECT_TRUE(at::equal(out, x * 2));
}

TEST_F(ShimTest, AotiEntryPointIsTheSameCall) {
  at::Tensor x = at::ones({2}), out;
  AtenTensorHandle handles[] = {H(&x), H(&x), H(&out)};
  ASSERT_EQ(aoti_torch_proxy_executor_call_function(executor_, testing::kAdd, 0,
                                                    nullptr, 3, handles),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(at::equal(out, x * 2));
}

TEST_F(ShimTest, CallMissesItsDeadlineWithoutHanging) {
  setenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS", "300", 1);
  AOTIProxyExecutorHandle quick = Create();
  unsetenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS");
  ASSERT_NE(quick, nullptr) << LastError();
  at::Tensor x = at::ones({2}), out;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Call(quick, testing::kSlow, {}, {&x, &out}), AOTI_TORCH_FAILURE);
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(1500));
  EXPECT_NE(LastError().find("DEADLINE_EXCEEDED"), std::string::npos)
      << LastError();
  EXPECT_NE(LastError().find("extern node 4 (test::slow)"), std::string::npos);
  EXPECT_FALSE(out.defined());
}

TEST_F(ShimTest, DeadDaemonFailsFastAndTheSessionComesBackWithIt) {
  at::Tensor x = at::arange(4, at::kFloat), out;
  ASSERT_EQ(Call(testing::kAdd, {}, {&x, &x, &out}), AOTI_TORCH_SUCCESS);
  daemon_->Stop();

  at::Tensor failed;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Call(testing::kAdd, {}, {&x, &x, &failed}), AOTI_TORCH_FAILURE);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_NE(LastError().find(daemon_->endpoint()), std::string::npos)
      << LastError();
  EXPECT_NE(LastError().find("UNAVAILABLE"), std::string::npos) << LastError();
  EXPECT_FALSE(failed.defined());
  // The output the client holds outlives the daemon.
  EXPECT_TRUE(at::equal(out, x * 2));

  ASSERT_TRUE(daemon_->Start().ok());
  at::Tensor revived;
  ASSERT_EQ(Call(testing::kAdd, {}, {&out, &x, &revived}), AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(at::equal(revived, x * 3));
  // `out` belongs to the old session's region: staged now, not referenced.
  EXPECT_EQ(daemon_->stats().by_reference_inputs, 0);
  out = at::Tensor();  // its release is dropped with its session
  at::Tensor last;
  ASSERT_EQ(Call(testing::kAdd, {}, {&x, &x, &last}), AOTI_TORCH_SUCCESS);
  EXPECT_EQ(daemon_->stats().bad_releases, 0);
}

TEST_F(ShimTest, LargeInputGrowsTheStagingRegion) {
  at::Tensor small = at::ones({16}), out;
  ASSERT_EQ(Call(testing::kAdd, {}, {&small, &small, &out}),
            AOTI_TORCH_SUCCESS);
  at::Tensor big = at::rand({4 << 20});  // 16 MiB
  at::Tensor big_out;
  ASSERT_EQ(Call(testing::kAdd, {}, {&big, &big, &big_out}), AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(at::equal(big_out, big * 2));
  EXPECT_EQ(daemon_->stats().client_regions, 2);
  EXPECT_EQ(daemon_->stats().released_regions, 1);
  // The grown region is reused, and `big` passed twice is copied once.
  ASSERT_EQ(Call(testing::kAdd, {}, {&big, &big, &out}), AOTI_TORCH_SUCCESS);
  EXPECT_EQ(daemon_->stats().client_regions, 2);
  // Two distinct 16 MiB inputs need a bigger one.
  at::Tensor ones = at::ones({4 << 20});
  ASSERT_EQ(Call(testing::kAdd, {}, {&big, &ones, &out}), AOTI_TORCH_SUCCESS);
  EXPECT_TRUE(at::equal(out, big + 1));
  EXPECT_EQ(daemon_->stats().client_regions, 3);
  EXPECT_EQ(daemon_->stats().released_regions, 2);
}

TEST_F(ShimTest, ManyThreadsCallAtOnce) {
  constexpr int kThreads = 8;
  constexpr int kCalls = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        at::Tensor a = at::full({t * 100 + i + 1}, static_cast<double>(t));
        at::Tensor b = at::full({t * 100 + i + 1}, static_cast<double>(i));
        at::Tensor out;
        if (Call(testing::kAdd, {}, {&a, &b, &out}) != AOTI_TORCH_SUCCESS ||
            !at::equal(out, a + b)) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0) << LastError();
  EXPECT_LE(daemon_->stats().client_regions, kThreads);
}

}  // namespace
}  // namespace aoti_executor
