// An owned file descriptor: closed exactly once, by whoever holds it last.
//
// Descriptors cross many of our APIs (received with a frame, adopted by a
// region, handed to a worker, kept by a session until a request names it).
// Passing them as this type rather than as a raw int makes who closes what
// part of each signature, and makes every early return close what it holds.
// An API that only uses a descriptor for the length of a call (sending it,
// mapping it, polling it) still takes a plain int.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_UNIQUE_FD_H_
#define AOTI_EXECUTOR_SERVER_COMMON_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

#include "absl/status/statusor.h"

namespace aoti_executor {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Gives the descriptor up without closing it: the caller now owns it.
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }

  // Closes the held descriptor (if any) and holds `fd` instead. close()'s
  // error is ignored on purpose: on Linux the descriptor is gone either way,
  // and retrying after EINTR could close one another thread just opened.
  void reset(int fd = -1) {
    const int old = std::exchange(fd_, fd);
    if (old >= 0 && old != fd) ::close(old);
  }

 private:
  int fd_ = -1;
};

// Both ends of a new socketpair(AF_UNIX, type | SOCK_CLOEXEC).
absl::StatusOr<std::pair<UniqueFd, UniqueFd>> MakeSocketPair(int type);

// Both ends of a new pipe2(O_CLOEXEC): {read end, write end}.
absl::StatusOr<std::pair<UniqueFd, UniqueFd>> MakePipe();

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_UNIQUE_FD_H_
