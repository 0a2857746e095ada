#include "server/kernels/op_library.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"

namespace aoti_executor {

absl::Status LoadOpLibrary(const std::string& path) {
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* reason = dlerror();
    return absl::NotFoundError(absl::StrCat(
        "cannot load op library '", path, "': ", reason ? reason : "unknown"));
  }
  return absl::OkStatus();
}

}  // namespace aoti_executor
