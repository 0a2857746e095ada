// How one node's arguments and returns map onto the flat arrays of
// aoti_torch_proxy_executor_call_function.
//
// The AOTI call site walks the schema's arguments in order and appends the
// values that are only known at run time (tensors, ints, SymInts, int
// Scalars) to two flat arrays, then appends one uninitialized handle per
// output tensor and the specialized value of each int return (the order of
// AOTInductor's generated call sites). A DynamicArg records one such run-time
// argument, an OutputSlot one return; everything else is static and prefilled
// from the JSON.
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_FLAT_ARGS_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_FLAT_ARGS_H_

#include <vector>

namespace aoti_executor {

// What a run-time argument takes from the flat arrays and what it becomes on
// the stack.
enum class DynamicArgType {
  kTensor,              // one tensor                  -> Tensor
  kTensorList,          // `length` tensors            -> Tensor[]
  kOptionalTensorList,  // one tensor per present item -> Tensor?[]
  kInt,                 // one int                     -> int
  kIntList,             // `length` ints               -> int[] (also SymInt[])
  kScalarIntList,       // `length` ints               -> Scalar[] of ints
};

struct DynamicArg {
  int stack_index = 0;
  DynamicArgType type = DynamicArgType::kTensor;
  // Number of list items (1 for kTensor and kInt). For kOptionalTensorList,
  // the number of items, present or not.
  int length = 1;
  // kOptionalTensorList only: which items are tensors (the others are None).
  std::vector<bool> present;

  bool takes_tensors() const {
    return type == DynamicArgType::kTensor ||
           type == DynamicArgType::kTensorList ||
           type == DynamicArgType::kOptionalTensorList;
  }
  // How many entries of its flat array this argument consumes.
  int flat_count() const {
    if (type != DynamicArgType::kOptionalTensorList) return length;
    int count = 0;
    for (bool is_tensor : present) count += is_tensor ? 1 : 0;
    return count;
  }
};

enum class OutputType {
  kTensor,      // one output handle
  kTensorList,  // `length` output handles
  kSkipped,     // None, or a Tensor? serialized as None: no handle
  kInt,         // one int, checked against the specialized value
};

struct OutputSlot {
  OutputType type = OutputType::kTensor;
  int length = 1;  // kTensorList: the serialized number of tensors
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_FLAT_ARGS_H_
