#include "client_shim/options.h"

#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/common/transport_security.h"

namespace aoti_executor {
namespace client {

absl::StatusOr<absl::Duration> ParseTimeoutMs(const char* name,
                                              const char* value,
                                              int64_t fallback) {
  if (value == nullptr || value[0] == '\0') {
    return absl::Milliseconds(fallback);
  }
  int64_t ms = 0;
  // At most about 24 days, so that deadlines never overflow anything.
  if (!absl::SimpleAtoi(value, &ms) || ms <= 0 || ms > (int64_t{1} << 31)) {
    return absl::InvalidArgumentError(
        absl::StrCat("$", name, "=\"", value,
                     "\" is not a positive number of milliseconds"));
  }
  return absl::Milliseconds(ms);
}

absl::StatusOr<bool> ParseSwitch(const char* name, const char* value) {
  if (value == nullptr || value[0] == '\0') return false;
  const std::string text = absl::AsciiStrToLower(value);
  for (const char* on : {"1", "true", "yes", "on"}) {
    if (text == on) return true;
  }
  for (const char* off : {"0", "false", "no", "off"}) {
    if (text == off) return false;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("$", name, "=\"", value,
                   "\" is neither 1/true/yes/on nor 0/false/no/off"));
}

absl::StatusOr<ExecutorOptions> OptionsFromEnvironment(const char* endpoint,
                                                       const char* device) {
  ExecutorOptions options;
  AOTI_ASSIGN_OR_RETURN(options.endpoint, ResolveEndpoint(endpoint));
  AOTI_ASSIGN_OR_RETURN(options.endpoint,
                        WithClientTls(std::move(options.endpoint)));
  if (device != nullptr && device[0] != '\0') options.device = device;
  AOTI_ASSIGN_OR_RETURN(
      options.call_timeout,
      ParseTimeoutMs(kCallTimeoutEnvVar, std::getenv(kCallTimeoutEnvVar),
                     kDefaultCallTimeoutMs));
  AOTI_ASSIGN_OR_RETURN(
      options.connect_timeout,
      ParseTimeoutMs(kConnectTimeoutEnvVar, std::getenv(kConnectTimeoutEnvVar),
                     kDefaultConnectTimeoutMs));
  AOTI_ASSIGN_OR_RETURN(
      options.local_fallback,
      ParseSwitch(kLocalFallbackEnvVar, std::getenv(kLocalFallbackEnvVar)));
  if (const char* lane = std::getenv(kCallLaneEnvVar);
      lane != nullptr && lane[0] != '\0') {
    AOTI_ASSIGN_OR_RETURN(options.call_lane,
                          ParseSwitch(kCallLaneEnvVar, lane));
  }
  return options;
}

}  // namespace client
}  // namespace aoti_executor
