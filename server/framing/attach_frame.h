// The one message of the attach socket (docs/protocol.md): a fixed 64-byte
// frame, optionally with one file descriptor.
#ifndef AOTI_EXECUTOR_SERVER_FRAMING_ATTACH_FRAME_H_
#define AOTI_EXECUTOR_SERVER_FRAMING_ATTACH_FRAME_H_

#include <cstdint>
#include <type_traits>

namespace aoti_executor {

enum class AttachFrameType : uint16_t {
  kWelcome = 1,       // daemon -> client: the session secret
  kClientRegion = 2,  // client -> daemon: a memfd, id = attach_id
  kOutputRegion = 3,  // daemon -> client: a memfd, id = region id
  kCallLane = 4,      // daemon -> client: a call lane's memfd, id = lane id
  // daemon -> client: a registered set's sealed memfd, id = kernel set id,
  // size = the bytes of its JSON, at its start
  kKernelSetJson = 5,
};

struct AttachFrame {
  static constexpr uint32_t kMagic = 0x41544348;  // "ATCH"
  static constexpr uint16_t kVersion = 1;
  static constexpr int kSecretLength = 32;

  uint32_t magic = kMagic;
  uint16_t version = kVersion;
  AttachFrameType type = AttachFrameType::kWelcome;
  uint64_t id = 0;
  uint64_t size = 0;
  char secret[kSecretLength] = {};
  uint8_t reserved[8] = {};
};

static_assert(std::is_trivially_copyable<AttachFrame>::value,
              "AttachFrame crosses a socket as raw bytes");
static_assert(sizeof(AttachFrame) == 64, "AttachFrame is 64 bytes on the wire");

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_FRAMING_ATTACH_FRAME_H_
