// Loading custom-op libraries, as torch.ops.load_library does.
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_OP_LIBRARY_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_OP_LIBRARY_H_

#include <string>

#include "absl/status/status.h"

namespace aoti_executor {

// dlopens `path` for good (RTLD_NOW | RTLD_GLOBAL), so its static
// TORCH_LIBRARY registrations reach the dispatcher. Never unloaded: the
// dispatcher keeps pointers into it.
absl::Status LoadOpLibrary(const std::string& path);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_OP_LIBRARY_H_
