// main() of the *_remote_test suites: the same tests as their in-process
// twins, with every call sent to a real aoti-executord.
#include <gtest/gtest.h>

#include "tests/kernels/remote_backend.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(
      new aoti_executor::kernel_test::RemoteEnvironment());
  return RUN_ALL_TESTS();
}
