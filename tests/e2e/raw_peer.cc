// A raw protocol client process for the security tests: opens a session by
// hand, registers a region and the kernel set, makes one call (so the daemon
// creates and sends an output region), sends one more memfd that it never
// registers, prints "ready" and waits to be killed. Whatever the daemon holds
// for it must go when it dies.
//
//   raw_peer ENDPOINT JSON
#include <ATen/ATen.h>
#include <unistd.h>

#include <cstdio>

#include "tests/e2e/raw_session.h"

namespace e2e = aoti_executor::e2e;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: raw_peer ENDPOINT JSON\n");
    return 2;
  }
  auto session = e2e::RawSession::Open(argv[1]);
  if (!session.ok()) {
    std::fprintf(stderr, "raw_peer: %s\n", session.status().ToString().c_str());
    return 1;
  }
  auto region_id = (*session)->AddRegion(1 << 20);
  auto kernel_set_id = (*session)->RegisterKernelSet(argv[2]);
  if (!region_id.ok() || !kernel_set_id.ok()) {
    std::fprintf(stderr, "raw_peer: setup failed\n");
    return 1;
  }
  const at::Tensor a = at::arange(64, at::kFloat);
  aoti_executor::SharedRegion& region = (*session)->region(*region_id);
  e2e::v1::CallRequest request;
  request.set_kernel_set_id(*kernel_set_id);
  request.set_node_index(0);
  *request.add_inputs() = e2e::PlaceTensor(a, region, *region_id, 0);
  *request.add_inputs() = e2e::PlaceTensor(a, region, *region_id, 4096);
  e2e::v1::CallResponse response;
  grpc::Status status = (*session)->Call(request, &response);
  if (!status.ok() || response.outputs_size() != 1) {
    std::fprintf(stderr, "raw_peer: Call: %s\n",
                 status.error_message().c_str());
    return 1;
  }
  auto out = (*session)->ReadOutput(response.outputs(0));
  if (!out.ok() || !at::equal(*out, a * 2)) {
    std::fprintf(stderr, "raw_peer: wrong output\n");
    return 1;
  }
  auto unregistered =
      aoti_executor::SharedRegion::Create("raw-peer-pending", 1 << 20);
  if (!unregistered.ok() ||
      !(*session)
           ->SendRegionFd((*session)->NextAttachId(), unregistered->fd(),
                          unregistered->size())
           .ok()) {
    std::fprintf(stderr, "raw_peer: sending a memfd failed\n");
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  while (true) pause();
}
