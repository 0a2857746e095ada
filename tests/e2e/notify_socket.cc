#include "tests/e2e/notify_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace aoti_executor {
namespace e2e {

absl::StatusOr<std::unique_ptr<NotifySocket>> NotifySocket::Bind(
    const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError("notify socket path too long: " + path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) !=
      0) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, "bind " + path);
  }
  return std::unique_ptr<NotifySocket>(new NotifySocket(fd, path));
}

NotifySocket::~NotifySocket() {
  close(fd_);
  unlink(path_.c_str());
}

bool NotifySocket::Receive(absl::Time deadline) {
  while (true) {
    // Polls at least once: a deadline already past still reads what is
    // queued.
    const int64_t left_ms =
        std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
    pollfd ready{fd_, POLLIN, 0};
    const int polled = poll(&ready, 1, static_cast<int>(left_ms));
    if (polled < 0 && errno == EINTR) continue;
    if (polled <= 0) return false;
    char datagram[4096];
    const ssize_t size = recv(fd_, datagram, sizeof(datagram), 0);
    if (size < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    for (absl::string_view line :
         absl::StrSplit(absl::string_view(datagram, static_cast<size_t>(size)),
                        '\n', absl::SkipEmpty())) {
      pending_.emplace_back(line);
    }
    return true;
  }
}

absl::optional<std::string> NotifySocket::WaitFor(
    const std::function<bool(const std::string&)>& match,
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    while (!pending_.empty()) {
      std::string line = std::move(pending_.front());
      pending_.pop_front();
      if (match(line)) return line;
    }
    if (!Receive(deadline)) return absl::nullopt;
  }
}

bool NotifySocket::WaitForLine(const std::string& line,
                               absl::Duration timeout) {
  return WaitFor([&line](const std::string& got) { return got == line; },
                 timeout)
      .has_value();
}

}  // namespace e2e
}  // namespace aoti_executor
