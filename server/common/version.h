// The daemon's and shim's release, reported by Hello, GetStatus and --version.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_VERSION_H_
#define AOTI_EXECUTOR_SERVER_COMMON_VERSION_H_

namespace aoti_executor {

inline constexpr char kDaemonVersion[] = "0.1.0";

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_VERSION_H_
