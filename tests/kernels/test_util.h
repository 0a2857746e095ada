// Shared helpers for the extern-kernel engine tests: finding runfiles,
// loading the custom-op test library, writing extern-kernel JSON the way
// PyTorch's serializer does, calling a node the way AOTI's generated code
// does, and comparing tensors bitwise.
#ifndef AOTI_EXECUTOR_TESTS_KERNELS_TEST_UTIL_H_
#define AOTI_EXECUTOR_TESTS_KERNELS_TEST_UTIL_H_

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/kernels/kernel_set.h"

namespace aoti_executor {
namespace kernel_test {

// The absolute path of a runfile given relative to the workspace root
// ("tests/fixtures/custom_ops.json"), from $TEST_SRCDIR/$TEST_WORKSPACE, or
// the path itself (Bazel runs tests from the runfiles root).
std::string RunfilePath(const std::string& relative);

// Loads //tests/ops:libaoti_test_ops.so once per process.
absl::Status LoadTestOps();

// Loads a fixture from tests/fixtures/ on the CPU.
absl::StatusOr<KernelSet> LoadFixture(const std::string& file_name);

// Parses inline JSON on the CPU.
absl::StatusOr<KernelSet> ParseJson(const std::string& json);

// --- JSON, as torch/_export/serde writes it ---------------------------------
// {"as_tensor": {"name": "<name>"}}
std::string TensorArg(const std::string& name);
// {"as_tensors": [{"name": ...}, ...]}
std::string TensorsArg(const std::vector<std::string>& names);
// A NamedArgument: {"name": ..., "arg": <arg>, "kind": <kind>}
std::string Input(const std::string& name, const std::string& arg,
                  int kind = 1);
// An ExternKernelNode with every dataclass field, nulls included.
std::string Node(const std::string& buffer, const std::string& target,
                 const std::vector<std::string>& inputs,
                 const std::vector<std::string>& outputs,
                 const std::string& metadata = "{}");
// {"nodes": [...]}
std::string Nodes(const std::vector<std::string>& nodes);

// --- Calling ---------------------------------------------------------------
// OpKernel::Run on node `index`.
absl::StatusOr<std::vector<at::Tensor>> RunNode(
    const KernelSet& kernels, int index, const std::vector<int64_t>& ints,
    const std::vector<at::Tensor>& inputs);

// The AOTI call site's view: one handle per input (a new at::Tensor sharing
// the input's TensorImpl, as AOTI's buffers do), then `num_outputs` handles
// to undefined tensors (aoti_torch_new_uninitialized_tensor), all passed to
// CallWithHandles.
class AotiCall {
 public:
  AotiCall(const std::vector<at::Tensor>& inputs, int num_outputs);

  absl::Status Call(const KernelSet& kernels, int index,
                    std::vector<int64_t> ints);

  // The handles, inputs then outputs.
  at::Tensor* handle(int i) { return handles_[i].get(); }
  int num_handles() const { return static_cast<int>(handles_.size()); }
  // What the output handles point at after the call.
  std::vector<at::Tensor> outputs() const;

 private:
  int num_inputs_;
  std::vector<std::unique_ptr<at::Tensor>> handles_;
};

// Runs node `index` through both OpKernel::Run and CallWithHandles on the
// same inputs, checks that both agree bitwise, and returns the outputs. Only
// for nodes that do not mutate their inputs.
std::vector<at::Tensor> RunBothWays(const KernelSet& kernels, int index,
                                    const std::vector<int64_t>& ints,
                                    const std::vector<at::Tensor>& inputs);

// --- Checking --------------------------------------------------------------
// Same dtype, same sizes, same bytes (elementwise, in logical order).
::testing::AssertionResult SameTensor(const at::Tensor& actual,
                                      const at::Tensor& expected);

// The 1-D float64 tensor holding `values`.
at::Tensor DoubleTensor(const std::vector<double>& values);

}  // namespace kernel_test
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_KERNELS_TEST_UTIL_H_
