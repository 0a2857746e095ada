// A client process for the peer-policy and TLS tests: it becomes the user
// the test names (as a root test can), optionally loses sight of a
// directory (a private mount namespace with an empty tmpfs over it, as a
// client in another container would), then creates an executor for
// tests/fixtures/aten_ops.json through the real shim (libaoti_remote.so's C
// ABI) and runs one add.Tensor call, checked against ATen.
//
//   policy_peer [--uid=N --gid=N] [--groups=G,G|none] [--hide=DIR]
//               [--env=NAME=VALUE]... ENDPOINT JSON
//
// Prints one line: "ok" if create and the call succeeded with the right
// answer (exit 0), "create failed: <aoti_remote_last_error()>" (exit 3),
// "call failed: ..." (exit 4); exit 2 for a bad command line or a failed
// privilege drop or mount.
#include <ATen/ATen.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "aoti_remote/executor.h"
#include "tests/e2e/shim_calls.h"

namespace {

bool StartsWith(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

int Fail(const char* what) {
  std::fprintf(stderr, "policy_peer: %s: %s\n", what, std::strerror(errno));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long uid = -1;
  long gid = -1;
  std::string groups = "none";
  std::string hide;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (StartsWith(arg, "--uid=")) {
      uid = std::atol(arg.c_str() + 6);
    } else if (StartsWith(arg, "--gid=")) {
      gid = std::atol(arg.c_str() + 6);
    } else if (StartsWith(arg, "--groups=")) {
      groups = arg.substr(9);
    } else if (StartsWith(arg, "--hide=")) {
      hide = arg.substr(7);
    } else if (StartsWith(arg, "--env=")) {
      const std::string assignment = arg.substr(6);
      const size_t equals = assignment.find('=');
      if (equals == std::string::npos) return 2;
      setenv(assignment.substr(0, equals).c_str(),
             assignment.substr(equals + 1).c_str(), 1);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2 || (uid < 0) != (gid < 0)) {
    std::fprintf(stderr,
                 "usage: policy_peer [--uid=N --gid=N] [--groups=G,G|none] "
                 "[--hide=DIR] [--env=NAME=VALUE]... ENDPOINT JSON\n");
    return 2;
  }
  if (!hide.empty()) {
    if (unshare(CLONE_NEWNS) != 0) return Fail("unshare(CLONE_NEWNS)");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return Fail("mount --make-rprivate /");
    }
    if (mount("tmpfs", hide.c_str(), "tmpfs", 0, nullptr) != 0) {
      return Fail("mount tmpfs");
    }
  }
  // Opened while still root: the test's runfiles may lie under root's own
  // 0700 home. The file itself is readable by all, so the other user
  // reopens it through /proc/self/fd (which needs the process dumpable).
  std::string json_path = positional[1];
  const int json = open(json_path.c_str(), O_RDONLY);
  if (json < 0) return Fail("open the JSON");
  if (uid >= 0) json_path = "/proc/self/fd/" + std::to_string(json);
  if (uid >= 0) {
    std::vector<gid_t> supplementary;
    if (groups != "none") {
      size_t start = 0;
      while (start <= groups.size()) {
        const size_t comma = groups.find(',', start);
        supplementary.push_back(static_cast<gid_t>(
            std::atol(groups.substr(start, comma - start).c_str())));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    // Groups first: once the uid is not root, they cannot change.
    if (setgroups(supplementary.size(), supplementary.data()) != 0) {
      return Fail("setgroups");
    }
    if (setresgid(gid, gid, gid) != 0) return Fail("setresgid");
    if (setresuid(uid, uid, uid) != 0) return Fail("setresuid");
    if (prctl(PR_SET_DUMPABLE, 1) != 0) return Fail("PR_SET_DUMPABLE");
  }
  AOTIProxyExecutorHandle executor = nullptr;
  if (aoti_remote_executor_create(positional[0].c_str(), json_path.c_str(),
                                  "cpu", &executor) != AOTI_TORCH_SUCCESS) {
    std::printf("create failed: %s\n", aoti_remote_last_error());
    return 3;
  }
  at::Tensor a = at::arange(6, at::kFloat).reshape({2, 3});
  at::Tensor b = at::full({2, 3}, 0.5, at::kFloat);
  at::Tensor out;
  int status = 0;
  if (aoti_executor::e2e::CallNode(executor, aoti_executor::e2e::kAdd, {},
                                   {&a, &b, &out}) != AOTI_TORCH_SUCCESS) {
    std::printf("call failed: %s\n", aoti_remote_last_error());
    status = 4;
  } else if (!aoti_executor::e2e::Same(out, a + b)) {
    std::printf("call failed: wrong answer\n");
    status = 4;
  } else {
    std::printf("ok\n");
  }
  out = at::Tensor();
  aoti_remote_executor_delete(executor);
  return status;
}
