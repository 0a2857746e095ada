#include "server/framing/packet_channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

// Room for a few fds, so that a peer sending more than one is detected (and
// its fds closed) rather than reported as MSG_CTRUNC.
constexpr int kMaxReceivedFds = 4;

bool IsPeerGone(int error) {
  return error == EPIPE || error == ECONNRESET || error == ENOTCONN;
}

// Waits until `socket` is readable or `deadline` passes. OK means readable
// (or hung up or in error: recvmsg tells which).
absl::Status WaitReadable(int socket, absl::Time deadline) {
  while (true) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        timeout_ms = 0;
      } else {
        // Round up, so that we never wake before the deadline and spin.
        const int64_t ms =
            absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
        timeout_ms = ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
      }
    }
    struct pollfd pfd = {socket, POLLIN, 0};
    const int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::ErrnoToStatus(errno, "poll");
    }
    if (ready == 0) {
      if (timeout_ms == 0 || absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            "nothing arrived before the deadline");
      }
      continue;
    }
    if (pfd.revents & POLLNVAL) {
      return absl::InvalidArgumentError(
          absl::StrCat("socket ", socket, " is not an open fd"));
    }
    return absl::OkStatus();
  }
}

}  // namespace

absl::Status SendPacket(int socket, const void* data, size_t size, int fd) {
  if (socket < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid socket ", socket));
  }
  struct iovec iov = {const_cast<void*>(data), size};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;

  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  if (fd >= 0) {
    std::memset(&control, 0, sizeof(control));
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  }

  while (true) {
    const ssize_t sent = sendmsg(socket, &msg, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (IsPeerGone(errno)) {
        return absl::UnavailableError(
            absl::StrCat("peer closed: sendmsg: ", std::strerror(errno)));
      }
      return absl::ErrnoToStatus(errno, "sendmsg");
    }
    if (static_cast<size_t>(sent) != size) {
      // SOCK_SEQPACKET sends whole records; anything else is a misuse.
      return absl::InternalError(
          absl::StrCat("sendmsg sent ", sent, " of ", size, " bytes"));
    }
    return absl::OkStatus();
  }
}

absl::StatusOr<ReceivedPacket> ReceivePacket(int socket, size_t max_size,
                                             absl::Time deadline) {
  if (socket < 0) {
    // poll() would ignore a negative fd and sleep until the deadline.
    return absl::InvalidArgumentError(absl::StrCat("invalid socket ", socket));
  }
  ReceivedPacket received;
  // One byte more than allowed, so that a longer packet shows as MSG_TRUNC.
  received.bytes.resize(max_size + 1);
  while (true) {
    absl::Status ready = WaitReadable(socket, deadline);
    if (!ready.ok()) {
      return ready;
    }
    struct iovec iov = {received.bytes.data(), received.bytes.size()};
    union {
      char buf[CMSG_SPACE(sizeof(int) * kMaxReceivedFds)];
      struct cmsghdr align;
    } control;
    std::memset(&control, 0, sizeof(control));
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);

    // MSG_DONTWAIT: poll said readable, but should another reader have taken
    // the packet we must go back to poll and its deadline, not block here.
    const ssize_t n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
        continue;
      }
      if (IsPeerGone(errno)) {
        return absl::UnavailableError(
            absl::StrCat("peer closed: recvmsg: ", std::strerror(errno)));
      }
      return absl::ErrnoToStatus(errno, "recvmsg");
    }

    // Own every fd that arrived before looking at anything else, so that
    // each error path below closes them.
    std::vector<UniqueFd> fds;
    for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr;
         cmsg = CMSG_NXTHDR(&msg, cmsg)) {
      if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
        continue;
      }
      const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
        fds.emplace_back(fd);
      }
    }

    absl::Status error;
    if (n == 0) {
      error = absl::UnavailableError("peer closed");
    } else if (msg.msg_flags & MSG_CTRUNC) {
      error = absl::ResourceExhaustedError(
          "a packet's file descriptors were dropped (MSG_CTRUNC): too many "
          "fds sent, or the receiver is at RLIMIT_NOFILE");
    } else if ((msg.msg_flags & MSG_TRUNC) ||
               static_cast<size_t>(n) > max_size) {
      error = absl::InvalidArgumentError(
          absl::StrCat("packet longer than ", max_size, " bytes"));
    } else if (fds.size() > 1) {
      error = absl::InvalidArgumentError(absl::StrCat(
          "packet carries ", fds.size(), " fds, at most 1 is allowed"));
    }
    if (!error.ok()) return error;
    received.bytes.resize(n);
    if (!fds.empty()) received.fd = std::move(fds[0]);
    return received;
  }
}

}  // namespace aoti_executor
