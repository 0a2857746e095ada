#include "client_shim/transport/attach_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/common/peer_refusal.h"
#include "server/common/status_macros.h"

namespace aoti_executor {
namespace client {
namespace {

absl::Status Errno(int error, absl::string_view what) {
  return absl::ErrnoToStatus(error, what);
}

// A failed connect: NotFound if there is no socket file (the caller knows
// whether that means "not this host"), PermissionDenied if this process may
// not open it (the file's mode), Unavailable otherwise (nobody listens).
absl::Status ConnectError(int error, const std::string& path) {
  const std::string message = absl::StrCat("connecting to attach socket ", path,
                                           ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrCat(
          message, " (the socket's mode admits its owner and group only)"));
    default:
      return absl::UnavailableError(message);
  }
}

// A non-blocking connect (so a full backlog cannot block past the deadline),
// retried on EAGAIN until `deadline`; the socket is left blocking.
absl::Status ConnectUntil(int fd, const std::string& path,
                          absl::Time deadline) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attach socket path \"", path, "\" is too long"));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Errno(errno, "fcntl(O_NONBLOCK) on the attach socket");
  }
  while (true) {
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address),
                sizeof(address)) == 0) {
      break;
    }
    const int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EINPROGRESS) {
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "connecting to attach socket ", path, ": backlog full"));
      }
      if (error == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
        poll(&p, 1, static_cast<int>(std::max<int64_t>(1, ms)));
        int so_error = 0;
        socklen_t len = sizeof(so_error);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        if (so_error == 0 && (p.revents & POLLOUT)) break;
        if (so_error != 0) {
          return absl::UnavailableError(
              absl::StrCat("connecting to attach socket ", path, ": ",
                           std::strerror(so_error)));
        }
        continue;
      }
      usleep(2000);
      continue;
    }
    return ConnectError(error, path);
  }
  if (fcntl(fd, F_SETFL, flags) < 0) {
    return Errno(errno, "fcntl on the attach socket");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AttachSocket>> AttachSocket::Connect(
    const std::string& path, absl::Time deadline) {
  UniqueFd owned(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!owned.valid()) return Errno(errno, "socket(AF_UNIX, SOCK_SEQPACKET)");
  const int fd = owned.get();
  std::unique_ptr<AttachSocket> attach(
      new AttachSocket(std::move(owned), path));
  AOTI_RETURN_IF_ERROR(ConnectUntil(fd, path, deadline));
  absl::StatusOr<ReceivedFrame> welcome = attach->Receive(deadline);
  if (!welcome.ok()) {
    return WithContext(
        welcome.status(),
        absl::StrCat("waiting for the session secret on ", path));
  }
  if (welcome->frame.type != AttachFrameType::kWelcome) {
    return absl::InternalError(absl::StrCat(
        "attach socket ", path, ": expected a kWelcome frame, got type ",
        static_cast<int>(welcome->frame.type)));
  }
  const char* secret = welcome->frame.secret;
  attach->secret_.assign(secret, strnlen(secret, AttachFrame::kSecretLength));
  if (attach->secret_.empty()) {
    // The daemon's peer policy refused this process; `id` is the uid it saw.
    return absl::PermissionDeniedError(PeerRefusedMessage(welcome->frame.id));
  }
  return attach;
}

absl::Status AttachSocket::SendClientRegion(uint64_t attach_id,
                                            const SharedRegion& region) {
  return SendMemfd(attach_id, region.fd(), region.size());
}

absl::Status AttachSocket::SendMemfd(uint64_t attach_id, int fd,
                                     uint64_t size) {
  AttachFrame frame;
  frame.type = AttachFrameType::kClientRegion;
  frame.id = attach_id;
  frame.size = size;
  absl::MutexLock lock(&send_mu_);
  return SendFrame(fd_.get(), frame, fd);
}

absl::StatusOr<ReceivedFrame> AttachSocket::Receive(absl::Time deadline) {
  return ReceiveFrame(fd_.get(), deadline);
}

bool AttachSocket::PeerClosed() const {
  pollfd p{fd_.get(), POLLRDHUP, 0};
  int n;
  do {
    n = poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL));
}

}  // namespace client
}  // namespace aoti_executor
