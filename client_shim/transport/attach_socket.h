// The client's end of the daemon's attach socket (docs/protocol.md): an
// AF_UNIX SOCK_SEQPACKET connection whose lifetime is the session's. It
// brings the session secret, carries the client's staging memfds to the
// daemon and the daemon's output-region memfds back.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_ATTACH_SOCKET_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_ATTACH_SOCKET_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/unique_fd.h"
#include "server/framing/fd_channel.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {
namespace client {

class AttachSocket {
 public:
  // Connects to `path` and waits, until `deadline`, for the kWelcome frame
  // that carries the session secret. Unavailable if nothing listens there,
  // NotFound if there is no socket file, PermissionDenied if the file's mode
  // keeps this process out or the daemon's peer policy refused it (a
  // kWelcome frame without a secret; its `id` is this process's uid).
  static absl::StatusOr<std::unique_ptr<AttachSocket>> Connect(
      const std::string& path, absl::Time deadline);

  AttachSocket(const AttachSocket&) = delete;
  AttachSocket& operator=(const AttachSocket&) = delete;
  // Destroying it closes the connection, which ends the session.

  // The 32 hex characters that every gRPC request of the session carries.
  const std::string& secret() const { return secret_; }
  const std::string& path() const { return path_; }

  // Sends `region`'s memfd in a kClientRegion frame with `attach_id`.
  // Thread-safe.
  absl::Status SendClientRegion(uint64_t attach_id, const SharedRegion& region);
  // Sends any memfd of `size` bytes in a kClientRegion frame; the RPC that
  // names `attach_id` says what it holds. Thread-safe.
  absl::Status SendMemfd(uint64_t attach_id, int fd, uint64_t size);

  // Receives the next frame from the daemon, waiting until `deadline`.
  // Callers serialize their reads (AttachInbox does).
  absl::StatusOr<ReceivedFrame> Receive(absl::Time deadline);

  // True once the daemon's end is closed (it exited or dropped the session):
  // the session is over. Does not block.
  bool PeerClosed() const;

 private:
  AttachSocket(UniqueFd fd, std::string path)
      : fd_(std::move(fd)), path_(std::move(path)) {}

  const UniqueFd fd_;
  const std::string path_;
  std::string secret_;
  absl::Mutex send_mu_;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_ATTACH_SOCKET_H_
