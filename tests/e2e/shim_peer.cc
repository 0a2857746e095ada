// A client process for the concurrency tests. It links the product,
// libaoti_remote.so, creates one executor for tests/fixtures/aten_ops.json,
// prints "ready", waits for EOF on stdin, then makes CALLS calls of
// MixedCall, each checked against ATen in this process, and prints
// "ok <good calls>".
//
//   shim_peer ENDPOINT JSON CALLS SEED
//
// Exit status: 0 if every call succeeded with the right result, 1 if not, 2
// for a bad command line or a failed create.
#include <ATen/ATen.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "aoti_remote/executor.h"
#include "tests/e2e/shim_calls.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: shim_peer ENDPOINT JSON CALLS SEED\n");
    return 2;
  }
  const int calls = std::atoi(argv[3]);
  const int seed = std::atoi(argv[4]);
  AOTIProxyExecutorHandle executor = nullptr;
  if (aoti_remote_executor_create(argv[1], argv[2], "cpu", &executor) !=
      AOTI_TORCH_SUCCESS) {
    std::fprintf(stderr, "shim_peer: create: %s\n", aoti_remote_last_error());
    return 2;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  char byte;
  while (read(STDIN_FILENO, &byte, 1) > 0) {
  }
  int good = 0;
  at::Tensor carried = at::zeros({1});
  for (int i = 0; i < calls; ++i) {
    std::string error;
    if (aoti_executor::e2e::MixedCall(executor, seed, i, &carried, &error)) {
      ++good;
    } else {
      std::fprintf(stderr, "shim_peer: %s\n", error.c_str());
    }
  }
  carried = at::Tensor();
  const bool deleted =
      aoti_remote_executor_delete(executor) == AOTI_TORCH_SUCCESS;
  std::printf("ok %d\n", good);
  std::fflush(stdout);
  return good == calls && deleted ? 0 : 1;
}
