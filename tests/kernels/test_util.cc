#include "tests/kernels/test_util.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/kernels/handle_call.h"
#include "server/kernels/op_library.h"

namespace aoti_executor {
namespace kernel_test {

std::string RunfilePath(const std::string& relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && workspace != nullptr) {
    return absl::StrCat(srcdir, "/", workspace, "/", relative);
  }
  return relative;
}

absl::Status LoadTestOps() {
  static const absl::Status* status = new absl::Status(
      LoadOpLibrary(RunfilePath("tests/ops/libaoti_test_ops.so")));
  return *status;
}

absl::StatusOr<KernelSet> LoadFixture(const std::string& file_name) {
  return KernelSet::Load(RunfilePath("tests/fixtures/" + file_name),
                         c10::Device(c10::kCPU));
}

absl::StatusOr<KernelSet> ParseJson(const std::string& json) {
  return KernelSet::Parse(json, c10::Device(c10::kCPU));
}

std::string TensorArg(const std::string& name) {
  return absl::StrCat(R"({"as_tensor": {"name": ")", name, R"("}})");
}

std::string TensorsArg(const std::vector<std::string>& names) {
  std::vector<std::string> items;
  for (const std::string& name : names) {
    items.push_back(absl::StrCat(R"({"name": ")", name, R"("})"));
  }
  return absl::StrCat(R"({"as_tensors": [)", absl::StrJoin(items, ", "), "]}");
}

std::string Input(const std::string& name, const std::string& arg, int kind) {
  return absl::StrCat(R"({"name": ")", name, R"(", "arg": )", arg,
                      R"(, "kind": )", kind, "}");
}

std::string Node(const std::string& buffer, const std::string& target,
                 const std::vector<std::string>& inputs,
                 const std::vector<std::string>& outputs,
                 const std::string& metadata) {
  return absl::StrCat(
      R"({"name": ")", buffer, R"(", "node": {"target": ")", target,
      R"(", "inputs": [)", absl::StrJoin(inputs, ", "), R"(], "outputs": [)",
      absl::StrJoin(outputs, ", "), R"(], "metadata": )", metadata,
      R"(, "is_hop_single_tensor_return": null, "name": null}})");
}

std::string Nodes(const std::vector<std::string>& nodes) {
  return absl::StrCat(R"({"nodes": [)", absl::StrJoin(nodes, ", "), "]}");
}

absl::StatusOr<std::vector<at::Tensor>> RunNode(
    const KernelSet& kernels, int index, const std::vector<int64_t>& ints,
    const std::vector<at::Tensor>& inputs) {
  auto kernel = kernels.Find(index);
  if (!kernel.ok()) return kernel.status();
  return (*kernel)->Run(ints, inputs);
}

AotiCall::AotiCall(const std::vector<at::Tensor>& inputs, int num_outputs)
    : num_inputs_(static_cast<int>(inputs.size())) {
  for (const at::Tensor& input : inputs) {
    handles_.push_back(std::make_unique<at::Tensor>(input));
  }
  for (int i = 0; i < num_outputs; ++i) {
    handles_.push_back(std::make_unique<at::Tensor>());
  }
}

absl::Status AotiCall::Call(const KernelSet& kernels, int index,
                            std::vector<int64_t> ints) {
  std::vector<at::Tensor*> tensors;
  for (const auto& handle : handles_) tensors.push_back(handle.get());
  return CallWithHandles(kernels, index, static_cast<int>(ints.size()),
                         ints.data(), static_cast<int>(tensors.size()),
                         tensors.data());
}

std::vector<at::Tensor> AotiCall::outputs() const {
  std::vector<at::Tensor> outputs;
  for (size_t i = num_inputs_; i < handles_.size(); ++i) {
    outputs.push_back(*handles_[i]);
  }
  return outputs;
}

std::vector<at::Tensor> RunBothWays(const KernelSet& kernels, int index,
                                    const std::vector<int64_t>& ints,
                                    const std::vector<at::Tensor>& inputs) {
  auto run = RunNode(kernels, index, ints, inputs);
  EXPECT_TRUE(run.ok()) << "Run: " << run.status();
  if (!run.ok()) return {};
  AotiCall call(inputs, static_cast<int>(run->size()));
  absl::Status status = call.Call(kernels, index, ints);
  EXPECT_TRUE(status.ok()) << "CallWithHandles: " << status;
  std::vector<at::Tensor> handles = call.outputs();
  for (size_t i = 0; i < run->size(); ++i) {
    EXPECT_TRUE(SameTensor(handles[i], (*run)[i]))
        << "output " << i << ": CallWithHandles differs from Run";
  }
  return *std::move(run);
}

::testing::AssertionResult SameTensor(const at::Tensor& actual,
                                      const at::Tensor& expected) {
  if (!actual.defined() || !expected.defined()) {
    return ::testing::AssertionFailure()
           << "defined: actual " << actual.defined() << ", expected "
           << expected.defined();
  }
  if (actual.scalar_type() != expected.scalar_type()) {
    return ::testing::AssertionFailure()
           << "dtype " << actual.scalar_type() << ", expected "
           << expected.scalar_type();
  }
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure()
           << "sizes " << actual.sizes() << ", expected " << expected.sizes();
  }
  const at::Tensor a = actual.contiguous();
  const at::Tensor e = expected.contiguous();
  if (std::memcmp(a.data_ptr(), e.data_ptr(), a.nbytes()) != 0) {
    return ::testing::AssertionFailure() << "values differ:\n"
                                         << actual << "\nexpected:\n"
                                         << expected;
  }
  return ::testing::AssertionSuccess();
}

at::Tensor DoubleTensor(const std::vector<double>& values) {
  return at::tensor(values, at::TensorOptions().dtype(at::kDouble));
}

}  // namespace kernel_test
}  // namespace aoti_executor
