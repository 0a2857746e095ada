// Fuzzes the worker's end of a call lane, whose memory the client can
// write at any time: CallLane::TakeRequest (sizes from the shared header)
// and LaneServer::Handle (the gate, the CallRequest parse, the answer that
// does not fit).
//
// Input: a 16-bit-length chunk posted as the request (honestly, with
// CallLane::Post), a flags byte (bit 0: the watch page gates the lane), then
// patches a hostile client makes to the lane's header before the worker
// looks: each a 16-bit offset into the header page and 8 bytes written
// there (the state word stays kPosted, so the call is always taken). The
// stand-in op answers each call with its inputs as outputs, so a large
// request makes an answer too large for the lane. Checked: the worker
// answers every taken call, with a CallResult that parses.
#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include "proto/worker.pb.h"
#include "server/lane/call_lane.h"
#include "server/lane/futex.h"
#include "server/lane/spin_budget.h"
#include "server/shm/shared_region.h"
#include "server/workers/call_watch.h"
#include "server/workers/lane_server.h"
#include "spdlog/spdlog.h"
#include "tests/fuzz/fuzz_util.h"

namespace aoti_executor {
namespace fuzz {
namespace {

namespace v1 = aoti::executor::v1;
namespace wv1 = aoti::executor::worker::v1;

constexpr size_t kMaxPatches = 16;

std::shared_ptr<SharedRegion> MakeRegion(uint64_t bytes) {
  auto region = SharedRegion::Create("call-lane-fuzz", bytes);
  FUZZ_CHECK(region.ok());
  return std::make_shared<SharedRegion>(*std::move(region));
}

// What a hostile client writes into the header after posting.
void Patch(FuzzReader& in, uint8_t* header) {
  for (size_t i = 0; i < kMaxPatches && !in.empty(); ++i) {
    const size_t offset = in.Int<uint16_t>() % (CallLane::kHeaderBytes - 8);
    const uint64_t value = in.Int<uint64_t>();
    std::memcpy(header + offset, &value, sizeof(value));
  }
  // The state word is the one field the worker must see as posted to take
  // the call at all.
  reinterpret_cast<std::atomic<uint32_t>*>(header)->store(CallLane::kPosted);
}

wv1::CallResult Echo(const v1::CallRequest& request) {
  wv1::CallResult result;
  *result.mutable_response()->mutable_outputs() = request.inputs();
  return result;
}

}  // namespace
}  // namespace fuzz
}  // namespace aoti_executor

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aoti_executor;
  using namespace aoti_executor::fuzz;
  FuzzReader in(data, size);
  const absl::string_view request = in.Chunk();
  const uint8_t flags = in.Byte();

  auto region = MakeRegion(CallLane::kBytes);
  auto watch = MakeRegion(CallWatch::kBytes);
  reinterpret_cast<CallWatch*>(watch->data())->gated.store(flags & 1);
  auto client = CallLane::Over(region);
  FUZZ_CHECK(client.ok());
  FUZZ_CHECK(client->Post(request, MonotonicNanos() + 1000000000).ok());
  Patch(in, region->data());

  auto worker_view = CallLane::Over(region);
  FUZZ_CHECK(worker_view.ok());
  int discarded = 0;
  {
    LaneServer server(*std::move(worker_view), watch, Echo,
                      [&discarded](const auto&) { ++discarded; });
    // Taken and answered: nothing else can move the state on.
    const int64_t give_up = MonotonicNanos() + 20000000000;
    while (client->state() != CallLane::kAnswered) {
      FUZZ_CHECK(MonotonicNanos() < give_up);
      CpuRelax();
    }
  }  // stops the server's thread
  SpinBudget no_spin(0);
  auto answer = client->AwaitAnswer(MonotonicNanos() + 1000000000, &no_spin,
                                    [] { return true; });
  FUZZ_CHECK(answer.ok() && answer->has_value());
  wv1::CallResult result;
  FUZZ_CHECK(result.ParseFromString(**answer));
  FUZZ_CHECK(result.code() != 0 || !(flags & 1));
  FUZZ_CHECK(discarded <= 1);
  return 0;
}
