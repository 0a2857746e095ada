// Protobuf messages, each with at most one fd, over the daemon <-> worker
// socketpair (SOCK_SEQPACKET: one message per packet).
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_MESSAGE_CHANNEL_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_MESSAGE_CHANNEL_H_

#include <google/protobuf/message_lite.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/unique_fd.h"

namespace aoti_executor {

// Largest message on the channel: a packet must fit the socket's send
// buffer (net.core.wmem_max, 208 KiB by default). Kernel-set JSON travels in
// a memfd; a call (ints and tensor references) is far smaller.
inline constexpr size_t kMaxWorkerMessageBytes = 160 << 10;

absl::Status SendMessage(int socket,
                         const google::protobuf::MessageLite& message,
                         int fd = -1);

// Receives one message into `*message`; returns the fd that came with it
// (none: an invalid UniqueFd).
absl::StatusOr<UniqueFd> ReceiveMessage(
    int socket, google::protobuf::MessageLite* message,
    absl::Time deadline = absl::InfiniteFuture());

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_MESSAGE_CHANNEL_H_
