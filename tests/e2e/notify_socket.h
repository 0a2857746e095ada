// The test's end of systemd's notification protocol: an AF_UNIX datagram
// socket whose path a daemon gets as NOTIFY_SOCKET, read the way systemd
// reads it (one datagram per sd_notify, newline-separated assignments).
#ifndef AOTI_EXECUTOR_TESTS_E2E_NOTIFY_SOCKET_H_
#define AOTI_EXECUTOR_TESTS_E2E_NOTIFY_SOCKET_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace aoti_executor {
namespace e2e {

class NotifySocket {
 public:
  // Binds `path` (which must not exist; within 108 characters).
  static absl::StatusOr<std::unique_ptr<NotifySocket>> Bind(
      const std::string& path);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::string& path() const { return path_; }

  // Reads assignments in arrival order until one satisfies `match`, and
  // returns it; those before it are consumed. nullopt if none has by
  // `timeout` from now.
  absl::optional<std::string> WaitFor(
      const std::function<bool(const std::string&)>& match,
      absl::Duration timeout);
  // WaitFor an assignment equal to `line` ("READY=1").
  bool WaitForLine(const std::string& line, absl::Duration timeout);

 private:
  NotifySocket(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  // Moves the next datagram's assignments into pending_; false if none came
  // by `deadline`.
  bool Receive(absl::Time deadline);

  int fd_;
  std::string path_;
  std::deque<std::string> pending_;
};

}  // namespace e2e
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_E2E_NOTIFY_SOCKET_H_
