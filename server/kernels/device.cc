#include "server/kernels/device.h"

#include <c10/util/Exception.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace aoti_executor {

absl::StatusOr<c10::Device> ParseDevice(absl::string_view device) {
  try {
    return c10::Device(device.empty() ? std::string("cpu")
                                      : std::string(device));
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", device, "' is not a device (e.g. cpu, cuda, cuda:1): ",
        e.what_without_backtrace()));
  }
}

}  // namespace aoti_executor
