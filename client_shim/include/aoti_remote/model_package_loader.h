// aoti_remote::ModelPackageLoader: runs an AOTInductor package (.pt2) in
// this process with every extern kernel call in aoti-executord. A drop-in
// for torch::inductor::AOTIModelPackageLoader, except that the host needs no
// custom-op library: only the daemon loads those.
//
//   aoti_remote::ModelPackageLoader model("model.pt2");
//   std::vector<at::Tensor> outputs = model.run({x, y});
//
// Link with libaoti_remote.so and libtorch (the one the shim was built
// against). From Python: torch.ops.load_library(<libaoti_remote.so>), then
// torch.classes.aoti_remote.ModelPackageLoader(path, model_name, endpoint),
// or the aoti_remote module's load_package.
#ifndef AOTI_REMOTE_MODEL_PACKAGE_LOADER_H_
#define AOTI_REMOTE_MODEL_PACKAGE_LOADER_H_

#include <ATen/Tensor.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "aoti_remote/executor.h"

namespace aoti_remote {

class AOTI_REMOTE_EXPORT ModelPackageLoader {
 public:
  // Opens the package, loads model `model_name`'s .so and its constants in
  // this process, and registers its extern-kernel JSON with the daemon at
  // `endpoint` ("" means $AOTI_EXECUTOR_ENDPOINT, then the default socket:
  // the conventions of aoti_remote/executor.h, whose environment variables
  // apply too). A model with no extern kernels needs no daemon. Nothing of
  // the package is left on disk once this returns. Throws
  // std::runtime_error naming what was wrong: a package that cannot be read
  // or has no such model, a device other than the CPU, weights stored
  // outside the model .so, torchbind objects, a daemon that cannot be
  // reached or cannot resolve a node.
  explicit ModelPackageLoader(const std::string& package_path,
                              const std::string& model_name = "model",
                              const std::string& endpoint = "");
  ~ModelPackageLoader();
  ModelPackageLoader(const ModelPackageLoader&) = delete;
  ModelPackageLoader& operator=(const ModelPackageLoader&) = delete;

  // Runs the model on its flat tensor inputs and returns its flat outputs.
  // A run in which any extern call failed fails as a whole, whether or not
  // the model's generated code checked the call: it throws
  // std::runtime_error with the first failure's message (node, op, reason)
  // and returns nothing. Thread-safe; runs on different threads never see
  // each other's failures.
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs);

  // The model's input and output pytree specs, as
  // torch::inductor::AOTIModelPackageLoader::get_call_spec gives them.
  std::vector<std::string> get_call_spec();

  // The model's metadata (AOTI_DEVICE_KEY and what the compiler recorded).
  std::unordered_map<std::string, std::string> get_metadata() const;

  // The proxy executor the model's extern calls go to, for the C API
  // (NULL for a model without extern kernels). Owned by the loader.
  AOTIProxyExecutorHandle executor() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aoti_remote

#endif  // AOTI_REMOTE_MODEL_PACKAGE_LOADER_H_
