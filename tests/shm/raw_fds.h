// Raw system-call helpers for tests and fuzz targets that play a peer:
// counting this process's open fds, and sending a packet with fds attached.
// Free of gtest, so that the fuzz targets (which link libFuzzer, not gtest)
// share them with the unit tests.
#ifndef AOTI_EXECUTOR_TESTS_SHM_RAW_FDS_H_
#define AOTI_EXECUTOR_TESTS_SHM_RAW_FDS_H_

#include <dirent.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace aoti_executor {
namespace testing_util {

// Entries of /proc/self/fd, not counting the directory's own fd; -1 if it
// cannot be read.
inline int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;
}

// The most fds SendRaw attaches to one packet.
inline constexpr int kMaxRawFds = 8;

// One sendmsg() of `size` bytes with `fd_count` fds as SCM_RIGHTS, bypassing
// the framing code under test. Returns what sendmsg returns; -1 with EINVAL
// for more than kMaxRawFds fds.
inline ssize_t SendRaw(int socket, const void* data, size_t size,
                       const int* fds = nullptr, int fd_count = 0) {
  if (fd_count < 0 || fd_count > kMaxRawFds) {
    errno = EINVAL;
    return -1;
  }
  struct iovec iov = {const_cast<void*>(data), size};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  union {
    char buf[CMSG_SPACE(sizeof(int) * kMaxRawFds)];
    struct cmsghdr align;
  } control = {};
  if (fd_count > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    std::memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * fd_count);
  }
  return sendmsg(socket, &msg, MSG_NOSIGNAL);
}

}  // namespace testing_util
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_SHM_RAW_FDS_H_
