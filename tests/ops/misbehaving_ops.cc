// libaoti_misbehaving_ops.so: custom ops that fail the ways real custom ops
// do (segfault, abort, exit, throw, hang, allocate without bound), for the
// crash-isolation tests, plus one well-behaved op to show that the next call
// works.
#include <ATen/ATen.h>
#include <torch/library.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <utility>
#include <vector>

namespace aoti_misbehaving {
namespace {

using at::Tensor;

// x + 1: the healthy op.
Tensor PlusOne(const Tensor& x) { return x + 1; }

// A real SIGSEGV in every build: under UBSan (tests/sanitizers) the null
// check would stop the worker with its own report and exit status first.
__attribute__((no_sanitize("undefined"))) Tensor Segfault(const Tensor& x) {
  volatile int* nowhere = nullptr;
  *nowhere = static_cast<int>(x.numel());
  return x;
}

// x + 1, unless an element of x is negative: then a segfault. An op that
// crashes only on some inputs, in the middle of a real model.
Tensor PlusOneOrSegfault(const Tensor& x) {
  if ((x < 0).any().item<bool>()) return Segfault(x);
  return x + 1;
}

Tensor Abort(const Tensor& x) {
  std::abort();
  return x;
}

Tensor Exit(const Tensor& x) {
  _exit(3);
  return x;
}

Tensor Throw(const Tensor& x) {
  TORCH_CHECK(false, "misbehaving::throw was asked to throw (numel ", x.numel(),
              ")");
  return x;
}

Tensor Hang(const Tensor& x) {
  while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
  return x;
}

// Allocates 256 MiB at a time, keeping everything, until an allocation
// fails (or the process is killed).
Tensor AllocateForever(const Tensor& x) {
  std::vector<Tensor> hoard;
  while (true) hoard.push_back(at::empty({64 << 20}, at::kFloat));
  return x;
}

}  // namespace

// Every op has a CompositeExplicitAutograd kernel (one for every backend,
// and for calls without tensors), never a CompositeImplicitAutograd one:
// torch.export would trace into that, and the compiled model would make no
// extern call.
template <typename Func>
torch::CppFunction Kernel(Func&& f) {
  return torch::dispatch(c10::DispatchKey::CompositeExplicitAutograd,
                         std::forward<Func>(f));
}

TORCH_LIBRARY(misbehaving, m) {
  m.def("plus_one(Tensor x) -> Tensor", Kernel(PlusOne));
  m.def("segfault(Tensor x) -> Tensor", Kernel(Segfault));
  m.def("plus_one_or_segfault(Tensor x) -> Tensor", Kernel(PlusOneOrSegfault));
  m.def("abort(Tensor x) -> Tensor", Kernel(Abort));
  m.def("exit(Tensor x) -> Tensor", Kernel(Exit));
  m.def("throw(Tensor x) -> Tensor", Kernel(Throw));
  m.def("hang(Tensor x) -> Tensor", Kernel(Hang));
  m.def("allocate_forever(Tensor x) -> Tensor", Kernel(AllocateForever));
}

}  // namespace aoti_misbehaving
