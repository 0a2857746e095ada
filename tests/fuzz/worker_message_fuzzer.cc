// Fuzzes the worker's side of the daemon <-> worker channel: ReceiveMessage
// (message_channel.cc) and everything WorkerLoop does with a ToWorker:
// mapping a kernel set image (MappedKernelSetImage::Map) and resolving its
// nodes on first call, mapping regions and watch pages, opening call lanes,
// running calls (releases, node lookup, TensorFromRef, the op, outputs into
// the arena) and syncing.
//
// A real WorkerLoop runs in this process on a socket pair; the target plays
// the daemon. Input: records, each a kind byte and a 16-bit-length chunk
// that is sent as one packet: the serialized ToWorker (or any bytes). Kind
// % 3 says what fd goes with it (FdFor): none, the one the message asks for
// (a sealed memfd of its byte_size, or the image of the mlp fixture for a
// RegisterKernelSet), or an unsealed memfd. Then a Sync, whose answer must
// come (no hang), and the channel is closed, which must end the loop.
// Checked: the loop neither crashes nor hangs, and leaks no fd.
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "proto/worker.pb.h"
#include "server/kernels/kernel_set.h"
#include "server/workers/kernel_set_image.h"
#include "server/workers/message_channel.h"
#include "server/workers/worker_loop.h"
#include "tests/fuzz/fuzz_runfiles.h"
#include "tests/fuzz/fuzz_util.h"

namespace aoti_executor {
namespace fuzz {
namespace {

namespace wv1 = aoti::executor::worker::v1;

constexpr size_t kMaxRecords = 16;
constexpr uint64_t kSyncId = uint64_t{1} << 62;
// Memfds larger than this are not made: the size is the peer's word.
constexpr uint64_t kMaxMemfdBytes = 4 << 20;
// A call whose inputs have more elements than this is not sent: an
// elementwise op over a broadcast (stride 0) view of a few bytes allocates
// its full size, which the worker's memory limit bounds, not its code.
constexpr int64_t kMaxCallElements = 1 << 16;

// The fixture's set as the daemon sends it to workers: made once.
std::shared_ptr<const KernelSetImage>& Image() {
  static auto* image = new std::shared_ptr<const KernelSetImage>();
  return *image;
}

bool SmallEnough(const wv1::ToWorker& message) {
  if (!message.has_run_call()) return true;
  for (const auto& ref : message.run_call().request().inputs()) {
    __int128 numel = 1;
    for (int64_t size : ref.sizes()) {
      numel *= size < 0 ? 0 : size;
      if (numel > kMaxCallElements) return false;
    }
  }
  return true;
}

uint64_t AskedSize(const wv1::ToWorker& message) {
  switch (message.kind_case()) {
    case wv1::ToWorker::kMapRegion:
      return message.map_region().byte_size();
    case wv1::ToWorker::kWatchPage:
      return message.watch_page().byte_size();
    case wv1::ToWorker::kOpenLane:
      return message.open_lane().byte_size();
    default:
      return 0;
  }
}

// The fd that goes with a record of `kind` (-1: none); the caller closes it.
int FdFor(uint8_t kind, const wv1::ToWorker& message) {
  switch (kind % 3) {
    case 1: {
      if (message.has_register_kernel_set()) return dup(Image()->fd());
      uint64_t size = AskedSize(message);
      if (size == 0 || size > kMaxMemfdBytes) size = 4096;
      return MakeMemfd(size, true);
    }
    case 2:
      return MakeMemfd(4096, false);
    default:
      return -1;
  }
}

// Reads what the worker says until the answer to the Sync, the worker
// hangs up, or it is silent too long (a hang: aborts).
void AwaitSync(int channel) {
  while (true) {
    wv1::FromWorker message;
    auto fd =
        ReceiveMessage(channel, &message, absl::Now() + absl::Seconds(20));
    FUZZ_CHECK(!absl::IsDeadlineExceeded(fd.status()));
    if (!fd.ok()) return;  // the loop ended (a malformed message does that)
    if (message.has_call_result() &&
        message.call_result().call_id() == kSyncId) {
      return;
    }
  }
}

void Drive(int channel, FuzzReader& in) {
  wv1::FromWorker ready;
  auto fd = ReceiveMessage(channel, &ready, absl::Now() + absl::Seconds(20));
  FUZZ_CHECK(fd.ok() && ready.has_ready());
  for (size_t i = 0; i < kMaxRecords && !in.empty(); ++i) {
    const uint8_t kind = in.Byte();
    const absl::string_view bytes = in.Chunk();
    wv1::ToWorker message;
    const bool parsed =
        message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
    if (parsed && !SmallEnough(message)) continue;
    const int sent_fd = FdFor(kind, message);
    SendRaw(channel, bytes.data(), bytes.size(), &sent_fd,
            sent_fd >= 0 ? 1 : 0);
    if (sent_fd >= 0) close(sent_fd);
  }
  wv1::ToWorker sync;
  sync.mutable_sync()->set_call_id(kSyncId);
  if (SendMessage(channel, sync).ok()) AwaitSync(channel);
}

}  // namespace
}  // namespace fuzz
}  // namespace aoti_executor

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** argv) {
  using namespace aoti_executor;
  fuzz::SetUpKernels((*argv)[0]);
  const std::string json =
      fuzz::ReadRunfile((*argv)[0], "tests/fixtures/pytorch-2.13/mlp.json");
  auto set = KernelSet::Parse(json, c10::Device(c10::kCPU));
  FUZZ_CHECK(set.ok());
  auto image = KernelSetImage::Create(json, set->node_spans(), "cpu");
  FUZZ_CHECK(image.ok());
  fuzz::Image() = *image;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aoti_executor;
  using namespace aoti_executor::fuzz;
  const int fds_before = CountOpenFds();
  const SocketPair pair = MakeSocketPair();
  FUZZ_CHECK(pair.a >= 0);
  {
    // Owns pair.b from here on.
    WorkerLoop loop(UniqueFd(pair.b), /*region_id_base=*/1000,
                    /*num_threads=*/1);
    std::thread worker([&loop, channel = pair.b] {
      loop.Run();
      // Whatever ended the loop, the daemon's end sees it end.
      shutdown(channel, SHUT_RDWR);
    });
    FuzzReader in(data, size);
    Drive(pair.a, in);
    close(pair.a);  // the daemon is gone: the loop returns
    worker.join();
  }
  CheckNoFdLeak(fds_before);
  return 0;
}
