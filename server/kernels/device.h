// Device strings as clients send them ("cpu", "cuda", "cuda:1"; empty means
// the CPU), parsed once for the daemon, its workers and the shim's local
// fallback alike.
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_DEVICE_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_DEVICE_H_

#include <c10/core/Device.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace aoti_executor {

// InvalidArgument quoting `device` if c10 does not know it.
absl::StatusOr<c10::Device> ParseDevice(absl::string_view device);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_DEVICE_H_
