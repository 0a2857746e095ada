// Shared helpers for the extern-kernel engine tests: finding runfiles,
// loading the custom-op test library, writing extern-kernel JSON the way
// PyTorch's serializer does, calling a node the way AOTI's generated code
// does, and comparing tensors bitwise.
//
// The suites state each contract once and run it over each way of reaching
// the engine, a Backend: in-process (the default: OpKernel::Run and
// CallWithHandles) or remote (remote_backend.h: the real aoti-executord in a
// separate process, reached through the client shim's C ABI). Every call
// helper below goes through the current backend; RunBothWays also checks the
// backend against the in-process engine, bit for bit.
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
#include "absl/types/span.h"
#include "server/kernels/kernel_set.h"

namespace aoti_executor {
namespace kernel_test {

// The absolute path of a runfile given relative to the workspace root
// ("tests/fixtures/custom_ops.json"), from $TEST_SRCDIR/$TEST_WORKSPACE, or
// the path itself (Bazel runs tests from the runfiles root).
std::string RunfilePath(const std::string& relative);

// Loads //tests/ops:libaoti_test_ops.so once per process.
absl::Status LoadTestOps();

// --- Backends ---------------------------------------------------------------
// What a backend reports about one node: the call site's flat counts.
struct NodeInfo {
  std::string target;  // "aten::add.Tensor"
  int input_tensors = 0;
  int input_ints = 0;
  int output_tensors = 0;
  int output_ints = 0;
  std::vector<int> mutated_input_tensors;  // Tensor(a!) inputs
};

// A node's target and flat-array counts, written out by hand in a test.
struct ExpectedCounts {
  const char* target;
  int input_tensors, input_ints, output_tensors, output_ints;
};

// One model's kernels, opened on a backend. Thread-safe.
class BackendModel {
 public:
  virtual ~BackendModel() = default;

  virtual size_t num_nodes() const = 0;
  virtual absl::StatusOr<NodeInfo> Describe(int index) const = 0;

  // aoti_torch_proxy_executor_call_function's contract: `tensors` holds the
  // input tensors, then the output handles, which are assigned on success.
  virtual absl::Status Call(int index, int num_ints, const int64_t* ints,
                            int num_tensors,
                            at::Tensor* const* tensors) const = 0;

  // OpKernel::Run's contract: the whole flat int array and the input tensors
  // in; the output tensors (one per output handle) out.
  virtual absl::StatusOr<std::vector<at::Tensor>> Run(
      int index, const std::vector<int64_t>& ints,
      const std::vector<at::Tensor>& inputs) const = 0;
};

// Expects `model` to describe exactly the nodes of `expected`, in order.
void ExpectNodeCounts(const BackendModel& model,
                      absl::Span<const ExpectedCounts> expected);

class Backend {
 public:
  virtual ~Backend() = default;
  // "in-process", "remote": for messages.
  virtual std::string name() const = 0;
  // Opens the model whose JSON is `json`; `parsed` is that JSON already
  // parsed in-process, for the runtime device it was parsed for.
  virtual absl::StatusOr<std::shared_ptr<const BackendModel>> Open(
      const std::string& json, std::shared_ptr<const KernelSet> parsed) = 0;
};

// The backend every helper below uses: in-process unless SetBackend chose
// another. Set it before any test runs (a global ::testing::Environment).
Backend& CurrentBackend();
// Takes `backend` as the current one; nullptr restores in-process.
void SetBackend(std::unique_ptr<Backend> backend);

class TestKernels;

// Parses inline JSON for the runtime `device`, in-process (errors come from
// here) and then on the current backend.
absl::StatusOr<TestKernels> ParseJson(
    const std::string& json, c10::Device device = c10::Device(c10::kCPU));

// A model's extern kernels as the suites see them: the KernelSet parsed
// in-process (the reference every backend is compared with) and the same
// JSON opened on the current backend. Movable; outputs of its calls outlive
// it.
class TestKernels {
 public:
  // The in-process KernelSet.
  const KernelSet& set() const { return *set_; }
  absl::StatusOr<const OpKernel*> Find(int64_t index) const {
    return set_->Find(index);
  }
  size_t size() const { return set_->size(); }
  // The same model on the current backend.
  const BackendModel& backend() const { return *backend_; }

 private:
  friend absl::StatusOr<TestKernels> ParseJson(const std::string& json,
                                               c10::Device device);
  TestKernels(std::shared_ptr<const KernelSet> set,
              std::shared_ptr<const BackendModel> backend)
      : set_(std::move(set)), backend_(std::move(backend)) {}

  std::shared_ptr<const KernelSet> set_;
  std::shared_ptr<const BackendModel> backend_;
};

// Loads a fixture from tests/fixtures/ on the CPU.
absl::StatusOr<TestKernels> LoadFixture(const std::string& file_name);

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
// Node `index` on the current backend, the OpKernel::Run way (in-process:
// OpKernel::Run itself).
absl::StatusOr<std::vector<at::Tensor>> RunNode(
    const TestKernels& kernels, int index, const std::vector<int64_t>& ints,
    const std::vector<at::Tensor>& inputs);

// The AOTI call site's view: one handle per input (a new at::Tensor sharing
// the input's TensorImpl, as AOTI's buffers do), then `num_outputs` handles
// to undefined tensors (aoti_torch_new_uninitialized_tensor), all passed to
// the current backend's handle call (in-process: CallWithHandles; remote:
// aoti_remote_executor_call_function).
class AotiCall {
 public:
  AotiCall(const std::vector<at::Tensor>& inputs, int num_outputs);

  absl::Status Call(const TestKernels& kernels, int index,
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

// Runs node `index` in-process through OpKernel::Run (the reference) and
// through the current backend's handle call (AotiCall) on the same inputs,
// checks that both agree bitwise, and returns the backend's outputs. Only
// for nodes that do not mutate their inputs.
std::vector<at::Tensor> RunBothWays(const TestKernels& kernels, int index,
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
