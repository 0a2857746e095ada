#include "server/framing/fd_channel.h"

#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/framing/packet_channel.h"

namespace aoti_executor {

absl::Status SendFrame(int socket, const AttachFrame& frame, int fd) {
  absl::Status sent = SendPacket(socket, &frame, sizeof(frame), fd);
  if (!sent.ok()) {
    return absl::Status(sent.code(),
                        absl::StrCat("attach socket: ", sent.message()));
  }
  return sent;
}

absl::StatusOr<ReceivedFrame> ReceiveFrame(int socket, absl::Time deadline) {
  auto packet = ReceivePacket(socket, sizeof(AttachFrame), deadline);
  if (!packet.ok()) {
    return absl::Status(
        packet.status().code(),
        absl::StrCat("attach socket: ", packet.status().message()));
  }
  ReceivedFrame received;
  received.fd = std::move(packet->fd);
  absl::Status error;
  if (packet->bytes.size() != sizeof(AttachFrame)) {
    error = absl::InvalidArgumentError(
        absl::StrCat("short attach frame: ", packet->bytes.size(), " of ",
                     sizeof(AttachFrame), " bytes"));
  } else {
    std::memcpy(&received.frame, packet->bytes.data(), sizeof(AttachFrame));
    if (received.frame.magic != AttachFrame::kMagic) {
      error = absl::InvalidArgumentError(absl::StrCat(
          "attach frame has bad magic 0x", absl::Hex(received.frame.magic),
          ", expected 0x", absl::Hex(AttachFrame::kMagic)));
    } else if (received.frame.version != AttachFrame::kVersion) {
      error = absl::InvalidArgumentError(
          absl::StrCat("attach frame has version ", received.frame.version,
                       ", expected ", AttachFrame::kVersion));
    }
  }
  if (!error.ok()) return error;
  return received;
}

}  // namespace aoti_executor
