// What the fuzz targets share: a front-to-back reader of the fuzzer's bytes
// (so that seeds are easy to write: seed_corpus.cc), a check that aborts
// (libFuzzer reports it as a crash), and the fd plumbing of the peers the
// targets play.
#ifndef AOTI_EXECUTOR_TESTS_FUZZ_FUZZ_UTIL_H_
#define AOTI_EXECUTOR_TESTS_FUZZ_FUZZ_UTIL_H_

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"
#include "tests/shm/raw_fds.h"

// Aborts with the condition's text when it does not hold: a broken invariant
// found by the fuzzer, not bad input.
#define FUZZ_CHECK(condition)                                          \
  do {                                                                 \
    if (!(condition)) {                                                \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #condition);                              \
      std::abort();                                                    \
    }                                                                  \
  } while (false)

namespace aoti_executor {
namespace fuzz {

// Shared with the unit tests (raw_fds.h); an fd count equal before and
// after an input, or the code under test leaked one.
using testing_util::CountOpenFds;
using testing_util::SendRaw;

// Reads the input from the front; once it runs out every read gives zeros
// (or nothing), so every input decodes to something.
class FuzzReader {
 public:
  FuzzReader(const uint8_t* data, size_t size)
      : data_(reinterpret_cast<const char*>(data)), size_(size) {}

  bool empty() const { return size_ == 0; }
  size_t remaining() const { return size_; }

  uint8_t Byte() {
    if (size_ == 0) return 0;
    const uint8_t b = static_cast<uint8_t>(*data_);
    Skip(1);
    return b;
  }
  // Little-endian, from as many bytes as are left.
  template <typename T>
  T Int() {
    T value{};
    const size_t n = std::min(sizeof(T), size_);
    std::memcpy(&value, data_, n);
    Skip(n);
    return value;
  }
  // Up to `n` bytes.
  absl::string_view Bytes(size_t n) {
    n = std::min(n, size_);
    absl::string_view bytes(data_, n);
    Skip(n);
    return bytes;
  }
  // A chunk preceded by its 16-bit length.
  absl::string_view Chunk() { return Bytes(Int<uint16_t>()); }
  absl::string_view Rest() { return Bytes(size_); }

 private:
  void Skip(size_t n) {
    data_ += n;
    size_ -= n;
  }

  const char* data_;
  size_t size_;
};

// Threads of this process that carry its own name: those of std::thread.
// Libraries that start threads of their own as they please (gRPC's timer
// and executor threads) name them, and are not counted.
inline int CountOwnThreads() {
  auto comm = [](const std::string& path) {
    char name[32] = {};
    FILE* file = std::fopen(path.c_str(), "r");
    if (file == nullptr) return std::string();
    const size_t n = std::fread(name, 1, sizeof(name) - 1, file);
    std::fclose(file);
    return std::string(name, n);
  };
  const std::string own = comm("/proc/self/comm");
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  int count = 0;
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    if (comm(std::string("/proc/self/task/") + entry->d_name + "/comm") ==
        own) {
      ++count;
    }
  }
  closedir(dir);
  return count;
}

// Waits up to `ms` milliseconds until no more than `count` (CountOwnThreads)
// are left: a thread is gone from /proc only once it has run its
// thread_local destructors. Best effort: libFuzzer may start one meanwhile.
inline void AwaitOwnThreads(int count, int ms) {
  for (int i = 0; i < ms && CountOwnThreads() > count; ++i) usleep(1000);
}

// Aborts, listing the open fds, unless as many are open as `before` (a
// CountOpenFds() taken before the input ran).
inline void CheckNoFdLeak(int before) {
  const int now = CountOpenFds();
  if (now == before) return;
  std::fprintf(stderr, "fd leak: %d fds open before the input, %d after:\n",
               before, now);
  DIR* dir = opendir("/proc/self/fd");
  while (struct dirent* entry = dir != nullptr ? readdir(dir) : nullptr) {
    if (entry->d_name[0] == '.') continue;
    char target[256] = {};
    const std::string link = std::string("/proc/self/fd/") + entry->d_name;
    if (readlink(link.c_str(), target, sizeof(target) - 1) < 0) continue;
    std::fprintf(stderr, "  %s -> %s\n", entry->d_name, target);
  }
  if (dir != nullptr) closedir(dir);
  std::abort();
}

// A memfd of `size` bytes; sealed as a SharedRegion's is (against shrink,
// grow and sealing) when `sealed`. -1 if it cannot be made.
inline int MakeMemfd(uint64_t size, bool sealed) {
  const int fd = memfd_create("aoti-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  if (ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      (sealed && fcntl(fd, F_ADD_SEALS,
                       F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

// A memfd holding `bytes`, sealed as SealedBytes::Map wants it (against
// writing, shrinking, growing and sealing). -1 if it cannot be made.
inline int MakeSealedMemfdWith(absl::string_view bytes) {
  const int fd = memfd_create("aoti-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  if (write(fd, bytes.data(), bytes.size()) !=
          static_cast<ssize_t>(bytes.size()) ||
      fcntl(fd, F_ADD_SEALS,
            F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A connected AF_UNIX SOCK_SEQPACKET pair, or {-1, -1}.
struct SocketPair {
  int a = -1;
  int b = -1;
};

inline SocketPair MakeSocketPair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return {};
  }
  return {fds[0], fds[1]};
}

}  // namespace fuzz
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_FUZZ_FUZZ_UTIL_H_
