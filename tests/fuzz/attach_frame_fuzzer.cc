// Fuzzes what the attach socket decodes from a peer: ReceivePacket and
// ReceiveFrame (any packet, with 0, 1 or 2 fds of any kind), and the client's
// side of a session: AttachSocket::Connect reading the welcome, then
// AttachInbox adopting output regions and call lanes (SharedRegion::Adopt).
// The daemon's side (a client's kClientRegion frames) is driven by
// executor_service_fuzzer, which has a live SessionRegistry.
//
// Input: the id of the call lane the client waits for (8 bytes), then
// packets, each a kind byte, a length byte and that many bytes (a frame is
// 64). Kind % 7 says what fds go with it (PacketFds). A fake daemon sends
// the packets in order; the first stands for its kWelcome. Checked: a frame
// that is accepted is the 64 bytes sent with the right magic and version, and
// no fd leaks.
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "client_shim/transport/attach_inbox.h"
#include "client_shim/transport/attach_socket.h"
#include "server/framing/attach_frame.h"
#include "server/framing/fd_channel.h"
#include "server/framing/packet_channel.h"
#include "server/lane/call_lane.h"
#include "tests/fuzz/fuzz_util.h"

namespace aoti_executor {
namespace fuzz {
namespace {

constexpr size_t kMaxPackets = 8;

struct Packet {
  uint8_t kind = 0;
  std::string bytes;
};

std::vector<Packet> ReadPackets(FuzzReader& in) {
  std::vector<Packet> packets;
  while (!in.empty() && packets.size() < kMaxPackets) {
    Packet packet;
    packet.kind = in.Byte();
    packet.bytes = std::string(in.Bytes(in.Byte()));
    packets.push_back(std::move(packet));
  }
  return packets;
}

// The size the frame claims, if the packet holds one.
uint64_t ClaimedSize(const Packet& packet) {
  if (packet.bytes.size() != sizeof(AttachFrame)) return 0;
  AttachFrame frame;
  std::memcpy(&frame, packet.bytes.data(), sizeof(frame));
  return frame.size;
}

// The fds a packet carries, by its kind: none; a sealed memfd of the size
// its frame claims (4 KiB if that is 0 or over 2 MiB); the same unsealed; a
// call lane's sealed memfd; /dev/null; two sealed memfds; an empty sealed
// memfd.
std::vector<int> PacketFds(const Packet& packet) {
  uint64_t size = ClaimedSize(packet);
  if (size == 0 || size > (2u << 20)) size = 4096;
  switch (packet.kind % 7) {
    case 1:
      return {MakeMemfd(size, true)};
    case 2:
      return {MakeMemfd(size, false)};
    case 3:
      return {MakeMemfd(CallLane::kBytes, true)};
    case 4:
      return {open("/dev/null", O_RDONLY | O_CLOEXEC)};
    case 5:
      return {MakeMemfd(size, true), MakeMemfd(size, true)};
    case 6:
      return {MakeMemfd(0, true)};
    default:
      return {};
  }
}

void Send(int socket, const Packet& packet) {
  std::vector<int> fds = PacketFds(packet);
  SendRaw(socket, packet.bytes.data(), packet.bytes.size(), fds.data(),
          static_cast<int>(fds.size()));
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
}

// The frame layer alone: every packet, through a socket pair.
void ReceiveEach(const std::vector<Packet>& packets) {
  const SocketPair pair = MakeSocketPair();
  FUZZ_CHECK(pair.a >= 0);
  for (const Packet& packet : packets) {
    Send(pair.a, packet);
    auto frame = ReceiveFrame(pair.b, absl::Now() + absl::Seconds(1));
    if (!frame.ok()) continue;
    FUZZ_CHECK(packet.bytes.size() == sizeof(AttachFrame));
    FUZZ_CHECK(std::memcmp(&frame->frame, packet.bytes.data(),
                           sizeof(AttachFrame)) == 0);
    FUZZ_CHECK(frame->frame.magic == AttachFrame::kMagic);
    FUZZ_CHECK(frame->frame.version == AttachFrame::kVersion);
  }
  // A packet of any length up to a limit the peer does not choose.
  for (const Packet& packet : packets) {
    Send(pair.a, packet);
    const size_t max_size = packet.kind;
    auto received =
        ReceivePacket(pair.b, max_size, absl::Now() + absl::Seconds(1));
    if (!received.ok()) continue;
    FUZZ_CHECK(received->bytes == packet.bytes);
    FUZZ_CHECK(received->bytes.size() <= max_size);
  }
  close(pair.a);
  close(pair.b);
}

// A listening attach socket that plays the daemon, made once and removed
// with its directory when the fuzzer exits.
class FakeDaemon {
 public:
  FakeDaemon() {
    char dir[] = "/tmp/aoti-attach-fuzz-XXXXXX";
    FUZZ_CHECK(mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = dir_ + "/attach.sock";
    listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof(address.sun_path) - 1);
    FUZZ_CHECK(bind(listen_fd_, reinterpret_cast<sockaddr*>(&address),
                    sizeof(address)) == 0);
    FUZZ_CHECK(listen(listen_fd_, 4) == 0);
  }
  ~FakeDaemon() {
    close(listen_fd_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;

  const std::string& path() const { return path_; }

  // Accepts one client, sends it `packets` and hangs up.
  void Serve(const std::vector<Packet>& packets) const {
    const int connection = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) return;
    for (const Packet& packet : packets) Send(connection, packet);
    close(connection);
  }

 private:
  std::string dir_;
  std::string path_;
  int listen_fd_ = -1;
};

void RunClient(const FakeDaemon& daemon, const std::vector<Packet>& packets,
               uint64_t lane_id) {
  std::thread serve([&] { daemon.Serve(packets); });
  {
    auto attach = client::AttachSocket::Connect(daemon.path(),
                                                absl::Now() + absl::Seconds(2));
    if (attach.ok()) {
      FUZZ_CHECK(!(*attach)->secret().empty());
      FUZZ_CHECK((*attach)->secret().size() <= AttachFrame::kSecretLength);
      std::vector<std::shared_ptr<SharedRegion>> outputs;
      client::AttachInbox inbox(
          attach->get(),
          [&outputs](uint64_t, std::shared_ptr<SharedRegion> region) {
            FUZZ_CHECK(region != nullptr && region->size() > 0);
            outputs.push_back(std::move(region));
          });
      // Reads every frame: the daemon hangs up after the last one.
      auto lane = inbox.TakeCallLane(lane_id, absl::Now() + absl::Seconds(2));
      if (lane.ok()) FUZZ_CHECK(*lane != nullptr);
    }
  }
  serve.join();
}

}  // namespace
}  // namespace fuzz
}  // namespace aoti_executor

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aoti_executor;
  using namespace aoti_executor::fuzz;
  static const FakeDaemon daemon;
  FuzzReader in(data, size);
  const uint64_t lane_id = in.Int<uint64_t>();
  const std::vector<Packet> packets = ReadPackets(in);
  const int fds_before = CountOpenFds();
  ReceiveEach(packets);
  RunClient(daemon, packets, lane_id);
  CheckNoFdLeak(fds_before);
  return 0;
}
