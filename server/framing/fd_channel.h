// Sending and receiving AttachFrames, each with at most one file descriptor,
// over a connected AF_UNIX SOCK_SEQPACKET socket (SCM_RIGHTS).
#ifndef AOTI_EXECUTOR_SERVER_FRAMING_FD_CHANNEL_H_
#define AOTI_EXECUTOR_SERVER_FRAMING_FD_CHANNEL_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/unique_fd.h"
#include "server/framing/attach_frame.h"

namespace aoti_executor {

// A received frame and the fd that came with it (if any).
struct ReceivedFrame {
  AttachFrame frame;
  UniqueFd fd;
};

// Sends `frame`, with `fd` attached unless it is -1 (the peer gets its own
// copy; `fd` stays the caller's). Retries EINTR; uses
// MSG_NOSIGNAL so a closed peer is an error, not SIGPIPE.
absl::Status SendFrame(int socket, const AttachFrame& frame, int fd = -1);

// Receives one frame. Blocks until one arrives, or until `deadline` passes
// (absl::InfiniteFuture() to wait forever): DeadlineExceeded. Peer closed:
// Unavailable. A short frame, wrong magic or version, more than one fd, or
// MSG_CTRUNC (fds dropped, e.g. at RLIMIT_NOFILE) is an error, and any fd
// that did arrive is closed.
absl::StatusOr<ReceivedFrame> ReceiveFrame(
    int socket, absl::Time deadline = absl::InfiniteFuture());

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_FRAMING_FD_CHANNEL_H_
