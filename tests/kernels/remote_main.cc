// main() of the *_remote_test suites: the same tests as their in-process
// twins, with every call sent to a real aoti-executord. --call_path=rpc
// (after gtest's own flags) turns the daemon's call lanes off, so that every
// call takes the Call RPC; the default, lanes, is the daemon's default.
#include <gtest/gtest.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "tests/kernels/remote_backend.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  namespace kt = ::aoti_executor::kernel_test;
  kt::CallPath path = kt::CallPath::kLanes;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    absl::StatusOr<kt::CallPath> parsed =
        absl::ConsumePrefix(&arg, "--call_path=")
            ? kt::ParseCallPath(arg)
            : absl::InvalidArgumentError(
                  absl::StrCat("unknown argument ", argv[i]));
    if (!parsed.ok()) {
      std::cerr << parsed.status().message() << "\n";
      return 2;
    }
    path = *parsed;
  }
  ::testing::AddGlobalTestEnvironment(new kt::RemoteEnvironment(path));
  return RUN_ALL_TESTS();
}
