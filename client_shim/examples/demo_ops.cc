// The demo's custom-op library: one op, aoti_demo::soft_threshold, that
// AOTInductor cannot lower, so the compiled model calls it through its proxy
// executor. Only aoti-executord loads this library (--load-library); the
// host that runs the model never does.
#include <ATen/ATen.h>
#include <torch/library.h>

namespace {

// sign(x) * max(|x| - threshold, 0): shrinks every element towards zero.
at::Tensor SoftThreshold(const at::Tensor& x, double threshold) {
  return at::sign(x) * at::clamp_min(x.abs() - threshold, 0);
}

}  // namespace

TORCH_LIBRARY(aoti_demo, m) {
  m.def("soft_threshold(Tensor x, float threshold) -> Tensor");
  m.impl("soft_threshold", c10::DispatchKey::CompositeExplicitAutograd,
         TORCH_FN(SoftThreshold));
}
