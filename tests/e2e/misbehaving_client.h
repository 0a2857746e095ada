// A client of tests/fixtures/misbehaving_ops.json through the C ABI, for the
// tests of crashing, hanging and throwing ops (the daemon must load
// MisbehavingOpsFlags()).
#ifndef AOTI_EXECUTOR_TESTS_E2E_MISBEHAVING_CLIENT_H_
#define AOTI_EXECUTOR_TESTS_E2E_MISBEHAVING_CLIENT_H_

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "aoti_remote/executor.h"
#include "tests/e2e/daemon_process.h"

namespace aoti_executor {
namespace e2e {

// Node indices of tests/fixtures/misbehaving_ops.json.
enum MisbehavingNode {
  kPlusOne,
  kSegfault,
  kAbort,
  kExit,
  kThrow,
  kHang,
  kAllocateForever
};

class MisbehavingClient {
 public:
  explicit MisbehavingClient(const std::string& endpoint) {
    const std::string json = RunfilePath("tests/fixtures/misbehaving_ops.json");
    EXPECT_EQ(aoti_remote_executor_create(endpoint.c_str(), json.c_str(), "cpu",
                                          &executor_),
              AOTI_TORCH_SUCCESS)
        << aoti_remote_last_error();
  }
  ~MisbehavingClient() { aoti_remote_executor_delete(executor_); }
  MisbehavingClient(const MisbehavingClient&) = delete;
  MisbehavingClient& operator=(const MisbehavingClient&) = delete;

  AOTIProxyExecutorHandle handle() const { return executor_; }

  // Calls `node` on `x`; on success `*out` holds the result.
  AOTITorchError Call(int node, const at::Tensor& x, at::Tensor* out) {
    at::Tensor input = x;
    *out = at::Tensor();
    AtenTensorHandle handles[] = {reinterpret_cast<AtenTensorHandle>(&input),
                                  reinterpret_cast<AtenTensorHandle>(out)};
    return aoti_remote_executor_call_function(executor_, node, 0, nullptr, 2,
                                              handles);
  }

  // plus_one must work and be right.
  void ExpectHealthy() {
    const at::Tensor x = at::arange(8, at::kFloat);
    at::Tensor out;
    ASSERT_EQ(Call(kPlusOne, x, &out), AOTI_TORCH_SUCCESS)
        << aoti_remote_last_error();
    EXPECT_TRUE(at::equal(out, x + 1));
  }

 private:
  AOTIProxyExecutorHandle executor_ = nullptr;
};

}  // namespace e2e
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_E2E_MISBEHAVING_CLIENT_H_
