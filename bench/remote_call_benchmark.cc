// The remote path against in-process execution and the transport floors,
// all measured in one run on one machine:
//   - a one-element aten::add: in-process (CallWithHandles) vs through the
//     shim and a real aoti-executord over a Unix socket, vs an empty gRPC
//     unary (Hello) on the same socket: the floor the small call pays;
//   - a 64 MiB aten::add in-process vs remote, vs memcpy of the same bytes.
//
//   bazel run -c opt //bench:remote_call_benchmark
#include <ATen/ATen.h>
#include <grpcpp/grpcpp.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "aoti_remote/executor.h"
#include "bench/bench_stats.h"
#include "proto/executor.grpc.pb.h"
#include "server/daemon_flags.h"
#include "server/kernels/handle_call.h"
#include "server/kernels/kernel_set.h"
#include "tests/e2e/daemon_process.h"

namespace aoti_executor {
namespace {

constexpr char kAddJson[] =
    R"({"nodes": [{"name": "buf0", "node": {"target": "aten::add.Tensor", "inputs": [)"
    R"({"name": "self", "arg": {"as_tensor": {"name": "arg0_1"}}, "kind": 1}, )"
    R"({"name": "other", "arg": {"as_tensor": {"name": "arg1_1"}}, "kind": 1}], )"
    R"("outputs": [{"as_tensor": {"name": "buf0"}}], "metadata": {}, )"
    R"("is_hop_single_tensor_return": null, "name": null}}]})";

AtenTensorHandle Handle(at::Tensor* t) {
  return reinterpret_cast<AtenTensorHandle>(t);
}

struct AddCase {
  const char* name;
  int64_t numel;
  int warmup;
  int iterations;
};

int Main() {
  auto daemon = e2e::DaemonProcess::Start();
  if (!daemon.ok()) {
    std::fprintf(stderr, "%s\n", daemon.status().ToString().c_str());
    return 1;
  }
  const std::string json_path = (*daemon)->socket_dir() + "/add.wrapper.json";
  std::ofstream(json_path) << kAddJson;
  AOTIProxyExecutorHandle executor = nullptr;
  if (aoti_remote_executor_create((*daemon)->endpoint().c_str(),
                                  json_path.c_str(), "cpu",
                                  &executor) != AOTI_TORCH_SUCCESS) {
    std::fprintf(stderr, "%s\n", aoti_remote_last_error());
    return 1;
  }
  auto kernels = KernelSet::Parse(kAddJson, c10::Device("cpu"));

  auto channel = grpc::CreateChannel(*GrpcAddress((*daemon)->endpoint()),
                                     grpc::InsecureChannelCredentials());
  auto stub = aoti::executor::v1::Executor::NewStub(channel);
  const Percentiles floor = TimeEach(2000, 20000, [&] {
    grpc::ClientContext context;
    aoti::executor::v1::HelloRequest request;
    aoti::executor::v1::HelloResponse response;
    (void)stub->Hello(&context, request, &response);
  });

  PrintHeader();
  PrintRow("empty gRPC unary (Hello), same socket", floor, floor.p50_us);
  for (const AddCase& c :
       {AddCase{"aten::add 1 element", 1, 2000, 20000},
        AddCase{"aten::add 1 MiB (262144 floats)", 1 << 18, 20, 300},
        AddCase{"aten::add 64 MiB (16M floats)", 1 << 24, 3, 30}}) {
    at::Tensor a = at::rand({c.numel});
    at::Tensor b = at::rand({c.numel});
    at::Tensor out;
    std::array<at::Tensor*, 3> local_args{&a, &b, &out};
    const Percentiles local = TimeEach(c.warmup, c.iterations, [&] {
      out = at::Tensor();
      (void)CallWithHandles(*kernels, 0, 0, nullptr, 3, local_args.data()).ok();
    });
    std::array<AtenTensorHandle, 3> remote_args{Handle(&a), Handle(&b),
                                                Handle(&out)};
    const Percentiles remote = TimeEach(c.warmup, c.iterations, [&] {
      out = at::Tensor();
      if (aoti_torch_proxy_executor_call_function(executor, 0, 0, nullptr, 3,
                                                  remote_args.data()) !=
          AOTI_TORCH_SUCCESS) {
        std::fprintf(stderr, "%s\n", aoti_remote_last_error());
        std::exit(1);
      }
    });
    std::printf("\n");
    PrintRow((std::string(c.name) + ", in-process").c_str(), local,
             local.p50_us);
    PrintRow((std::string(c.name) + ", remote").c_str(), remote, local.p50_us);
    std::printf("%-44s %10.2f\n", "  remote - in-process (us)",
                remote.p50_us - local.p50_us);
    if (c.numel == 1) {
      std::printf("%-44s %10.2fx\n", "  remote / empty gRPC unary",
                  remote.p50_us / floor.p50_us);
    } else {
      const size_t bytes = c.numel * sizeof(float);
      std::vector<char> src(bytes, 1), dst(bytes, 0);
      const Percentiles copy = TimeEach(c.warmup, c.iterations, [&] {
        std::memcpy(dst.data(), src.data(), bytes);
      });
      PrintRow("  memcpy of one operand", copy, local.p50_us);
      std::printf("%-44s %10.2f\n", "  (remote - in-process) / memcpy",
                  (remote.p50_us - local.p50_us) / copy.p50_us);
    }
  }
  aoti_remote_executor_delete(executor);
  return 0;
}

}  // namespace
}  // namespace aoti_executor

int main() { return aoti_executor::Main(); }
