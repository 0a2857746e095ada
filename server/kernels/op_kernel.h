// One extern kernel: a resolved operator, its prefilled stack, and the map
// from the flat call arrays onto that stack.
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_OP_KERNEL_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_OP_KERNEL_H_

#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "rapidjson/document.h"
#include "server/kernels/flat_args.h"

namespace aoti_executor {

class OpKernel {
 public:
  // Resolves one `ExternKernelNode` ({"name": ..., "node": {...}}) through the
  // dispatcher and binds its arguments and returns. `node_index` is its
  // position in the JSON, i.e. its extern_node_index, used in messages.
  static absl::StatusOr<OpKernel> FromJson(int node_index,
                                           const rapidjson::Value& extern_node,
                                           c10::Device device);

  // Runs the op. `ints` is the whole flat int array (inputs in schema order,
  // then the specialized int returns); `inputs` are the input tensors in
  // schema order. Returns the output tensors in return order, one per output
  // handle of the call site. Thread-safe: each call copies the stack.
  absl::StatusOr<std::vector<at::Tensor>> Run(
      absl::Span<const int64_t> ints,
      absl::Span<const at::Tensor> inputs) const;

  // "extern node 3 'buf5' (mylib::fused)": how every message names this node.
  const std::string& description() const { return description_; }
  const std::string& target() const { return target_; }
  const c10::FunctionSchema& schema() const { return op_.schema(); }

  int num_input_tensors() const { return num_input_tensors_; }
  int num_input_ints() const { return num_input_ints_; }
  int num_output_tensors() const { return num_output_tensors_; }
  int num_output_ints() const { return num_output_ints_; }
  // Ints a call site may pass besides those: the schema defaults of
  // kwarg-only int arguments that the JSON omits, which PyTorch releases
  // that put them in the flat ints pass anyway (pytorch#189189). A call
  // with num_input_ints() + num_output_ints() ints, or that many more, is
  // right.
  int num_omitted_default_ints() const {
    return static_cast<int>(omitted_defaults_.size());
  }
  // Indices into the input tensors of Run() that the op writes (Tensor(a!)
  // arguments): a remote caller copies these back.
  const std::vector<int>& mutated_input_tensors() const {
    return mutated_input_tensors_;
  }

 private:
  OpKernel(c10::OperatorHandle op, std::string target, std::string description)
      : op_(std::move(op)),
        target_(std::move(target)),
        description_(std::move(description)) {}

  absl::Status BindInputs(const rapidjson::Value& inputs, c10::Device device);
  absl::Status BindOutputs(const rapidjson::Value& outputs, c10::Device device);
  void CountFlatArgs();
  // The flat ints of a call in the #189189 layout, less the omitted
  // defaults; fails if those are not the schema defaults.
  absl::StatusOr<std::vector<int64_t>> DropOmittedDefaults(
      absl::Span<const int64_t> ints) const;

  absl::Status CheckCounts(size_t num_ints, size_t num_inputs) const;
  void FillDynamicArgs(absl::Span<const int64_t> ints,
                       absl::Span<const at::Tensor> inputs,
                       std::vector<c10::IValue>* stack) const;
  absl::StatusOr<std::vector<at::Tensor>> CollectOutputs(
      absl::Span<const int64_t> output_ints,
      std::vector<c10::IValue>* stack) const;

  c10::OperatorHandle op_;
  std::string target_;
  std::string description_;
  std::vector<c10::IValue> stack_;   // static values; dynamic slots are None
  std::vector<DynamicArg> dynamic_;  // sorted by stack_index (schema order)
  std::vector<OutputSlot> outputs_;  // one per schema return
  int num_input_tensors_ = 0;
  int num_input_ints_ = 0;
  int num_output_tensors_ = 0;
  int num_output_ints_ = 0;
  std::vector<int> mutated_input_tensors_;
  // An omitted kwarg-only int default: where the #189189 layout puts it in
  // the flat ints, and its value.
  struct OmittedDefault {
    int position;
    int64_t value;
  };
  std::vector<OmittedDefault> omitted_defaults_;  // by position
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_OP_KERNEL_H_
