// The engine in-process: how fast a 10,000-node JSON loads, and what one
// OpKernel::Run of a one-element aten::add costs over callBoxed itself.
//
//   bazel run //bench:kernel_set_benchmark
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_stats.h"
#include "server/kernels/handle_call.h"
#include "server/kernels/kernel_set.h"

namespace aoti_executor {
namespace {

// One aten::add.Tensor node as PyTorch serializes it (alpha omitted: it has
// a default).
std::string AddNode(int i) {
  return absl::StrCat(
      R"({"name": "buf)", i,
      R"(", "node": {"target": "aten::add.Tensor", "inputs": [)",
      R"({"name": "self", "arg": {"as_tensor": {"name": "arg0_1"}}, "kind": 1},)",
      R"({"name": "other", "arg": {"as_tensor": {"name": "arg1_1"}}, "kind": 1}],)",
      R"("outputs": [{"as_tensor": {"name": "buf)", i,
      R"("}}], "metadata": {},)",
      R"("is_hop_single_tensor_return": null, "name": null}})");
}

std::string ManyNodes(int count) {
  std::string json = R"({"nodes": [)";
  for (int i = 0; i < count; ++i) {
    if (i > 0) json += ", ";
    json += AddNode(i);
  }
  return json + "]}";
}

int Main() {
  constexpr int kNodes = 10000;
  const std::string json = ManyNodes(kNodes);
  const auto start = std::chrono::steady_clock::now();
  auto set = KernelSet::Parse(json, c10::Device("cpu"));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (!set.ok()) {
    std::fprintf(stderr, "%s\n", set.status().ToString().c_str());
    return 1;
  }
  std::printf("load %d nodes (%.1f MiB JSON): %.1f ms, %.0f nodes/s\n\n",
              kNodes, json.size() / 1048576.0, seconds * 1e3, kNodes / seconds);

  const at::Tensor a = at::ones({1});
  const at::Tensor b = at::ones({1});
  const c10::OperatorHandle add =
      c10::Dispatcher::singleton().findSchemaOrThrow("aten::add", "Tensor");
  const Percentiles direct = TimeEach(10000, 200000, [&] {
    std::vector<c10::IValue> stack{a, b, 1};
    add.callBoxed(&stack);
  });
  const OpKernel* kernel = *set->Find(0);
  const std::vector<at::Tensor> inputs{a, b};
  const Percentiles run =
      TimeEach(10000, 200000, [&] { (void)kernel->Run({}, inputs).value(); });
  at::Tensor x = a, y = b, out;
  at::Tensor* handles[] = {&x, &y, &out};
  const Percentiles handle = TimeEach(10000, 200000, [&] {
    out = at::Tensor();
    (void)CallWithHandles(*set, 0, 0, nullptr, 3, handles).ok();
  });
  std::printf("one-element aten::add.Tensor, %d calls each\n", 200000);
  PrintHeader();
  PrintRow("callBoxed directly (baseline)", direct, direct.p50_us);
  PrintRow("OpKernel::Run", run, direct.p50_us);
  PrintRow("CallWithHandles (proxy-executor ABI)", handle, direct.p50_us);
  return 0;
}

}  // namespace
}  // namespace aoti_executor

int main() { return aoti_executor::Main(); }
