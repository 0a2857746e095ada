// One model of an AOTInductor package (.pt2), extracted for loading: the
// model .so, its extern-kernel JSON and its metadata, in a private
// temporary directory that this object removes.
//
// A .pt2 is a PyTorch zip archive; model `name` lives under
// data/aotinductor/<name>/ as <key>.wrapper.so (PyTorch 2.6: <key>.so),
// <key>.wrapper.json (the extern-kernel nodes) and
// <key>.wrapper_metadata.json (AOTI_DEVICE_KEY and what the compiler
// recorded).
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_LOADER_MODEL_PACKAGE_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_LOADER_MODEL_PACKAGE_H_

#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"

namespace aoti_executor {
namespace client {

class ModelPackage {
 public:
  // Extracts model `model_name` of the package at `package_path`. Fails,
  // naming the package, for an archive that cannot be read, a model it does
  // not hold, an entry that would land outside the model's folder, a model
  // with no compiled .so or no metadata, and what the loader cannot run:
  // weights stored outside the .so, torchbind objects.
  static absl::StatusOr<ModelPackage> Extract(const std::string& package_path,
                                              const std::string& model_name);

  ModelPackage(ModelPackage&& other) noexcept;
  ModelPackage& operator=(ModelPackage&&) = delete;
  ModelPackage(const ModelPackage&) = delete;
  ModelPackage& operator=(const ModelPackage&) = delete;
  // Removes the directory and everything in it. A model .so already loaded
  // stays loaded.
  ~ModelPackage();

  // The model's folder in the temporary directory (the runner's cubin dir).
  const std::string& directory() const { return directory_; }
  const std::string& so_path() const { return so_path_; }
  // The extern-kernel JSON, under a name that libtorch's runner does not
  // look for (so it builds no in-process proxy executor, which would need
  // the custom-op libraries here); "" if the model has none.
  const std::string& extern_kernels_json_path() const { return json_path_; }
  const std::unordered_map<std::string, std::string>& metadata() const {
    return metadata_;
  }

 private:
  explicit ModelPackage(std::string root) : root_(std::move(root)) {}

  std::string root_;  // the temporary directory; "" once moved from
  std::string directory_;
  std::string so_path_;
  std::string json_path_;
  std::unordered_map<std::string, std::string> metadata_;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_LOADER_MODEL_PACKAGE_H_
