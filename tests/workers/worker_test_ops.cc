// libworker_test_ops.so: one op for the Worker tests, which need a call that
// is provably running in the worker (so it is pending in the daemon) and
// never ends by itself.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <chrono>
#include <thread>

namespace worker_test {
namespace {

// Sets x's first element to 1 (x lies in memory the test shares with the
// worker: the test reads that as "the call runs"), then hangs.
at::Tensor MarkAndHang(const at::Tensor& x) {
  x.data_ptr<float>()[0] = 1.0f;
  while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
  return x;
}

}  // namespace

TORCH_LIBRARY(worker_test, m) {
  m.def("mark_and_hang(Tensor x) -> Tensor",
        torch::dispatch(c10::DispatchKey::CompositeExplicitAutograd,
                        MarkAndHang));
}

}  // namespace worker_test
