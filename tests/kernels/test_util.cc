#include "tests/kernels/test_util.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
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

namespace {

// The engine itself: OpKernel::Run and CallWithHandles on the KernelSet.
class InProcessModel final : public BackendModel {
 public:
  explicit InProcessModel(std::shared_ptr<const KernelSet> set)
      : set_(std::move(set)) {}

  size_t num_nodes() const override { return set_->size(); }

  absl::StatusOr<NodeInfo> Describe(int index) const override {
    absl::StatusOr<const OpKernel*> kernel = set_->Find(index);
    if (!kernel.ok()) return kernel.status();
    NodeInfo info;
    info.target = (*kernel)->target();
    info.input_tensors = (*kernel)->num_input_tensors();
    info.input_ints = (*kernel)->num_input_ints();
    info.output_tensors = (*kernel)->num_output_tensors();
    info.output_ints = (*kernel)->num_output_ints();
    info.mutated_input_tensors = (*kernel)->mutated_input_tensors();
    return info;
  }

  absl::Status Call(int index, int num_ints, const int64_t* ints,
                    int num_tensors,
                    at::Tensor* const* tensors) const override {
    return CallWithHandles(*set_, index, num_ints, ints, num_tensors, tensors);
  }

  absl::StatusOr<std::vector<at::Tensor>> Run(
      int index, const std::vector<int64_t>& ints,
      const std::vector<at::Tensor>& inputs) const override {
    absl::StatusOr<const OpKernel*> kernel = set_->Find(index);
    if (!kernel.ok()) return kernel.status();
    return (*kernel)->Run(ints, inputs);
  }

 private:
  std::shared_ptr<const KernelSet> set_;
};

class InProcessBackend final : public Backend {
 public:
  std::string name() const override { return "in-process"; }
  absl::StatusOr<std::shared_ptr<const BackendModel>> Open(
      const std::string& /*json*/,
      std::shared_ptr<const KernelSet> parsed) override {
    return std::make_shared<InProcessModel>(std::move(parsed));
  }
};

std::unique_ptr<Backend>& BackendSlot() {
  static auto* slot = new std::unique_ptr<Backend>();
  return *slot;
}

}  // namespace

Backend& CurrentBackend() {
  static auto* in_process = new InProcessBackend();
  std::unique_ptr<Backend>& slot = BackendSlot();
  return slot != nullptr ? *slot : *in_process;
}

void SetBackend(std::unique_ptr<Backend> backend) {
  BackendSlot() = std::move(backend);
}

absl::StatusOr<TestKernels> ParseJson(const std::string& json,
                                      c10::Device device) {
  absl::StatusOr<KernelSet> parsed = KernelSet::Parse(json, device);
  if (!parsed.ok()) return parsed.status();
  auto set = std::make_shared<const KernelSet>(*std::move(parsed));
  absl::StatusOr<std::shared_ptr<const BackendModel>> opened =
      CurrentBackend().Open(json, set);
  if (!opened.ok()) {
    return absl::Status(
        opened.status().code(),
        absl::StrCat(CurrentBackend().name(), ": ", opened.status().message()));
  }
  return TestKernels(std::move(set), *std::move(opened));
}

absl::StatusOr<TestKernels> LoadFixture(const std::string& file_name) {
  const std::string path = RunfilePath("tests/fixtures/" + file_name);
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream json;
  json << file.rdbuf();
  return ParseJson(json.str());
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
    const TestKernels& kernels, int index, const std::vector<int64_t>& ints,
    const std::vector<at::Tensor>& inputs) {
  return kernels.backend().Run(index, ints, inputs);
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

absl::Status AotiCall::Call(const TestKernels& kernels, int index,
                            std::vector<int64_t> ints) {
  std::vector<at::Tensor*> tensors;
  for (const auto& handle : handles_) tensors.push_back(handle.get());
  return kernels.backend().Call(index, static_cast<int>(ints.size()),
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

std::vector<at::Tensor> RunBothWays(const TestKernels& kernels, int index,
                                    const std::vector<int64_t>& ints,
                                    const std::vector<at::Tensor>& inputs) {
  absl::StatusOr<const OpKernel*> kernel = kernels.Find(index);
  EXPECT_TRUE(kernel.ok()) << kernel.status();
  if (!kernel.ok()) return {};
  auto reference = (*kernel)->Run(ints, inputs);
  EXPECT_TRUE(reference.ok())
      << "in-process OpKernel::Run: " << reference.status();
  if (!reference.ok()) return {};
  const std::string backend = CurrentBackend().name();
  AotiCall call(inputs, static_cast<int>(reference->size()));
  absl::Status status = call.Call(kernels, index, ints);
  EXPECT_TRUE(status.ok()) << backend << " handle call: " << status;
  if (!status.ok()) return {};
  std::vector<at::Tensor> outputs = call.outputs();
  for (size_t i = 0; i < reference->size(); ++i) {
    EXPECT_TRUE(SameTensor(outputs[i], (*reference)[i]))
        << "output " << i << ": the " << backend
        << " handle call differs from in-process OpKernel::Run";
  }
  return outputs;
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

void ExpectNodeCounts(const BackendModel& model,
                      absl::Span<const ExpectedCounts> expected) {
  ASSERT_EQ(model.num_nodes(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "node " << i);
    absl::StatusOr<NodeInfo> node = model.Describe(static_cast<int>(i));
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ(node->target, expected[i].target);
    EXPECT_EQ(node->input_tensors, expected[i].input_tensors);
    EXPECT_EQ(node->input_ints, expected[i].input_ints);
    EXPECT_EQ(node->output_tensors, expected[i].output_tensors);
    EXPECT_EQ(node->output_ints, expected[i].output_ints);
  }
}

}  // namespace kernel_test
}  // namespace aoti_executor
