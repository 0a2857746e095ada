#include "server/workers/message_channel.h"

#include <unistd.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/framing/packet_channel.h"

namespace aoti_executor {

absl::Status SendMessage(int socket,
                         const google::protobuf::MessageLite& message, int fd) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return absl::InternalError(
        absl::StrCat("cannot serialize a ", message.GetTypeName()));
  }
  if (bytes.size() > kMaxWorkerMessageBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a ", message.GetTypeName(), " of ", bytes.size(),
        " bytes exceeds the worker channel's ", kMaxWorkerMessageBytes));
  }
  return SendPacket(socket, bytes.data(), bytes.size(), fd);
}

absl::StatusOr<UniqueFd> ReceiveMessage(int socket,
                                        google::protobuf::MessageLite* message,
                                        absl::Time deadline) {
  auto packet = ReceivePacket(socket, kMaxWorkerMessageBytes, deadline);
  if (!packet.ok()) return packet.status();
  if (!message->ParseFromString(packet->bytes)) {
    return absl::DataLossError(
        absl::StrCat("a malformed ", message->GetTypeName(), " arrived"));
  }
  return std::move(packet->fd);
}

}  // namespace aoti_executor
