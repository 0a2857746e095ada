// A host process written the way AOTInductor's generated code calls extern
// kernels: flat int and tensor-handle arrays, outputs as undefined tensors.
// Each call runs in aoti-executord; the demo checks it against ATen
// in-process and prints what happened.
//
//   demo [ENDPOINT] [JSON]     (defaults: $AOTI_EXECUTOR_ENDPOINT or the
//                               daemon's default socket; demo.wrapper.json)
#include <ATen/ATen.h>
#include <torch/csrc/inductor/aoti_torch/c/shim.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "aoti_remote/executor.h"

namespace {

AtenTensorHandle Handle(at::Tensor* t) {
  return reinterpret_cast<AtenTensorHandle>(t);
}

bool Check(const char* what, AOTITorchError error, const at::Tensor& got,
           const at::Tensor& expected, double micros) {
  if (error != AOTI_TORCH_SUCCESS) {
    std::printf("  %-34s FAILED: %s\n", what, aoti_remote_last_error());
    return false;
  }
  const bool same = got.scalar_type() == expected.scalar_type() &&
                    got.sizes() == expected.sizes() && at::equal(got, expected);
  std::printf("  %-34s %-9s shape %-8s %8.1f us  %s\n", what,
              c10::toString(got.scalar_type()), c10::str(got.sizes()).c_str(),
              micros,
              same ? "== ATen in-process" : "DIFFERS from ATen in-process");
  return same;
}

template <typename Fn>
double Micros(Fn&& fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  const char* endpoint = argc > 1 ? argv[1] : nullptr;
  const char* json =
      argc > 2 ? argv[2] : "client_shim/examples/demo.wrapper.json";
  AOTIProxyExecutorHandle executor = nullptr;
  if (aoti_remote_executor_create(endpoint, json, "cpu", &executor) !=
      AOTI_TORCH_SUCCESS) {
    std::fprintf(stderr, "demo: %s\n", aoti_remote_last_error());
    return 1;
  }
  std::printf("registered %s with aoti-executord\n", json);

  at::manual_seed(0);
  at::Tensor arg0_1 = at::randn({4, 8});
  at::Tensor arg1_1 = at::randn({4, 8});
  bool ok = true;

  // buf0 = aten::add.Tensor(arg0_1, arg1_1)   (alpha: the schema default)
  at::Tensor buf0;
  std::array<AtenTensorHandle, 3> add_args{Handle(&arg0_1), Handle(&arg1_1),
                                           Handle(&buf0)};
  AOTITorchError error = AOTI_TORCH_SUCCESS;
  double us = Micros([&] {
    error = aoti_torch_proxy_executor_call_function(executor, 0, 0, nullptr, 3,
                                                    add_args.data());
  });
  ok &= Check("node 0 aten::add.Tensor", error, buf0, arg0_1 + arg1_1, us);

  // (buf2, buf3) = aten::topk(buf0, 3, -1): two outputs, ints from the call
  // site
  at::Tensor buf2, buf3;
  std::array<int64_t, 2> topk_ints{3, -1};
  std::array<AtenTensorHandle, 3> topk_args{Handle(&buf0), Handle(&buf2),
                                            Handle(&buf3)};
  us = Micros([&] {
    error = aoti_torch_proxy_executor_call_function(
        executor, 1, 2, topk_ints.data(), 3, topk_args.data());
  });
  auto expected_topk = at::topk(arg0_1 + arg1_1, 3, -1);
  ok &= Check("node 1 aten::topk values", error, buf2,
              std::get<0>(expected_topk), us);
  ok &= Check("node 1 aten::topk indices", error, buf3,
              std::get<1>(expected_topk), 0);

  // buf4 = aten::cat([buf2, arg1_1], 1): buf2 lives in daemon memory already
  at::Tensor buf4;
  std::array<int64_t, 1> cat_ints{1};
  std::array<AtenTensorHandle, 3> cat_args{Handle(&buf2), Handle(&arg1_1),
                                           Handle(&buf4)};
  us = Micros([&] {
    error = aoti_torch_proxy_executor_call_function(
        executor, 2, 1, cat_ints.data(), 3, cat_args.data());
  });
  ok &= Check("node 2 aten::cat", error, buf4,
              at::cat({std::get<0>(expected_topk), arg1_1}, 1), us);

  // buf5 = aten::_to_copy(buf4, dtype=float64): the dtype comes from the JSON
  at::Tensor buf5;
  std::array<AtenTensorHandle, 2> copy_args{Handle(&buf4), Handle(&buf5)};
  us = Micros([&] {
    error = aoti_torch_proxy_executor_call_function(executor, 3, 0, nullptr, 2,
                                                    copy_args.data());
  });
  ok &= Check("node 3 aten::_to_copy(dtype=8)", error, buf5,
              buf4.to(at::kDouble), us);

  // A bad call fails cleanly, with a reason, and the executor keeps working.
  std::array<AtenTensorHandle, 2> bad_args{Handle(&arg0_1), Handle(&buf5)};
  error = aoti_torch_proxy_executor_call_function(executor, 7, 0, nullptr, 2,
                                                  bad_args.data());
  std::printf("  %-34s %s\n", "node 7 (does not exist)",
              error == AOTI_TORCH_FAILURE ? aoti_remote_last_error()
                                          : "UNEXPECTED SUCCESS");
  ok &= error == AOTI_TORCH_FAILURE;

  // Warm: the regions are mapped and the first-touch costs paid.
  std::vector<double> remote, local;
  for (int i = 0; i < 2000; ++i) {
    buf0 = at::Tensor();
    remote.push_back(Micros([&] {
      aoti_torch_proxy_executor_call_function(executor, 0, 0, nullptr, 3,
                                              add_args.data());
    }));
    local.push_back(Micros([&] { (void)(arg0_1 + arg1_1); }));
  }
  std::sort(remote.begin(), remote.end());
  std::sort(local.begin(), local.end());
  std::printf(
      "  warm aten::add, median of 2000: %.1f us remote, %.1f us in-process\n",
      remote[1000], local[1000]);

  aoti_remote_executor_delete(executor);
  std::printf("%s\n", ok ? "demo: every remote result equals ATen in-process"
                         : "demo: FAILED");
  return ok ? 0 : 1;
}
