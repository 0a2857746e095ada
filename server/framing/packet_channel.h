// Whole packets, each with at most one file descriptor, over a connected
// AF_UNIX SOCK_SEQPACKET socket (SCM_RIGHTS). The attach socket's frames and
// the daemon-worker channel are both built on this.
#ifndef AOTI_EXECUTOR_SERVER_FRAMING_PACKET_CHANNEL_H_
#define AOTI_EXECUTOR_SERVER_FRAMING_PACKET_CHANNEL_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/unique_fd.h"

namespace aoti_executor {

// Sends one packet of `size` bytes, with `fd` attached unless it is -1 (the
// peer gets its own copy: `fd` stays the caller's).
// Retries EINTR; a closed peer is Unavailable (MSG_NOSIGNAL: no SIGPIPE).
absl::Status SendPacket(int socket, const void* data, size_t size, int fd = -1);

// A received packet and the fd that came with it (if any).
struct ReceivedPacket {
  std::string bytes;
  UniqueFd fd;
};

// Receives one packet of at most `max_size` bytes. Blocks until one arrives
// or `deadline` passes (DeadlineExceeded). Peer closed: Unavailable. A longer
// packet, more than one fd, or MSG_CTRUNC (fds dropped, e.g. at
// RLIMIT_NOFILE) is an error, and every fd that arrived is closed.
absl::StatusOr<ReceivedPacket> ReceivePacket(
    int socket, size_t max_size, absl::Time deadline = absl::InfiniteFuture());

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_FRAMING_PACKET_CHANNEL_H_
