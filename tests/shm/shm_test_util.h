// Helpers for the shared-memory tests: open-fd counting, seqpacket socket
// pairs and sealed memfds made with raw system calls (so that the code under
// test is not used to build its own inputs).
#ifndef AOTI_EXECUTOR_TESTS_SHM_SHM_TEST_UTIL_H_
#define AOTI_EXECUTOR_TESTS_SHM_SHM_TEST_UTIL_H_

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "gtest/gtest.h"
#include "server/common/unique_fd.h"
#include "tests/shm/raw_fds.h"

namespace aoti_executor {
namespace testing_util {

// True if `fd` is open in this process.
inline bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

// A connected AF_UNIX SOCK_SEQPACKET pair.
struct SocketPair {
  UniqueFd a;
  UniqueFd b;
};

inline SocketPair MakeSocketPair() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
  return SocketPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// A memfd of `size` bytes, created with `flags`, with `seals` added (if any).
inline UniqueFd MakeMemfd(uint64_t size, unsigned flags, int seals) {
  UniqueFd fd(memfd_create("shm-test", flags));
  EXPECT_GE(fd.get(), 0);
  EXPECT_EQ(ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  if (seals != 0) {
    EXPECT_EQ(fcntl(fd.get(), F_ADD_SEALS, seals), 0);
  }
  return fd;
}

inline UniqueFd MakeSealedMemfd(uint64_t size) {
  return MakeMemfd(size, MFD_CLOEXEC | MFD_ALLOW_SEALING,
                   F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}

}  // namespace testing_util
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_SHM_SHM_TEST_UTIL_H_
