#include "server/kernels/handle_call.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "server/common/status_macros.h"

namespace aoti_executor {

absl::Status CheckFlatArrays(int num_ints, const int64_t* ints, int num_tensors,
                             const void* const* tensors) {
  if (num_ints < 0 || num_tensors < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("negative count (num_ints=", num_ints,
                     ", num_tensors=", num_tensors, ")"));
  }
  if (num_ints > 0 && ints == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("flatten_int_args is NULL, num_ints=", num_ints));
  }
  if (num_tensors > 0 && tensors == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("flatten_tensor_args is NULL, num_tensors=", num_tensors));
  }
  for (int i = 0; i < num_tensors; ++i) {
    if (tensors[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor handle ", i, " is NULL"));
    }
  }
  return absl::OkStatus();
}

absl::Status CallWithHandles(const KernelSet& kernels, int extern_node_index,
                             int num_ints, const int64_t* ints, int num_tensors,
                             at::Tensor* const* tensors) {
  AOTI_RETURN_IF_ERROR(
      CheckFlatArrays(num_ints, ints, num_tensors,
                      reinterpret_cast<const void* const*>(tensors)));
  AOTI_ASSIGN_OR_RETURN(const OpKernel* kernel,
                        kernels.Find(extern_node_index));
  const int num_inputs = kernel->num_input_tensors();
  const int expected = num_inputs + kernel->num_output_tensors();
  if (num_tensors != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        kernel->description(), ": expected ", expected, " tensors (",
        num_inputs, " inputs + ", kernel->num_output_tensors(),
        " outputs), got ", num_tensors));
  }
  std::vector<at::Tensor> inputs;
  inputs.reserve(num_inputs);
  for (int i = 0; i < num_inputs; ++i) inputs.push_back(*tensors[i]);
  AOTI_ASSIGN_OR_RETURN(
      std::vector<at::Tensor> outputs,
      kernel->Run(absl::MakeConstSpan(ints, num_ints), inputs));
  for (size_t i = 0; i < outputs.size(); ++i) {
    *tensors[num_inputs + i] = std::move(outputs[i]);
  }
  return absl::OkStatus();
}

}  // namespace aoti_executor
