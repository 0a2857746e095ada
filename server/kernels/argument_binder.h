// Binds serialized arguments and returns of one extern node to its schema.
//
// Each schema argument becomes either a static IValue, prefilled once at
// load time (floats, strings, dtypes, devices, ...), or a DynamicArg that the
// call fills from the flat arrays. Dispatch is on Argument::real_type(), the
// only place where SymInt differs from int (as in OSSProxyExecutor).
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_ARGUMENT_BINDER_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_ARGUMENT_BINDER_H_

#include <ATen/core/function_schema.h>
#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rapidjson/document.h"
#include "server/kernels/flat_args.h"

namespace aoti_executor {

class ArgumentBinder {
 public:
  // `device` is the runtime device of the kernel set; see BindDevice.
  explicit ArgumentBinder(c10::Device device) : device_(device) {}

  // Binds `serialized` (an `Argument` union) to the schema argument at
  // `stack_index`: writes a static value into `*slot`, or appends a
  // DynamicArg to `*dynamic` and leaves `*slot` alone.
  absl::Status BindInput(const c10::TypePtr& type,
                         const rapidjson::Value& serialized, int stack_index,
                         c10::IValue* slot,
                         std::vector<DynamicArg>* dynamic) const;

  // Describes how one schema return fills the output handles and ints.
  absl::StatusOr<OutputSlot> BindOutput(
      const c10::TypePtr& type, const rapidjson::Value& serialized) const;

 private:
  // A serialized {"type": "cuda", "index": 0 | null}, reconciled with the
  // runtime device.
  absl::StatusOr<c10::Device> BindDevice(const rapidjson::Value& payload) const;

  c10::Device device_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_ARGUMENT_BINDER_H_
