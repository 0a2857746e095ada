// Fuzzes the client's end of a call lane against a hostile worker (one
// whose op scribbled over the lane): CallLane::AwaitAnswer and TakeAnswer
// (sizes and states from the shared header) and LaneCaller's CallResult
// parse, refusal and give-up paths, and LaneTransport turning the answer into
// the call's response or error.
//
// Input: a 16-bit-length chunk, the answer, which a fake worker writes into
// the answer area; a state byte, the state it then publishes (% 64 from 56
// on: % 8 is the state, kReturned among them, or one that never ends the
// wait, which the caller's deadline ends; else kAnswered); then header patches,
// each a 16-bit offset into the header page and 8 bytes, written before that
// state (answer_bytes among them). Checked: TryCall returns, whatever the
// worker wrote.
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "client_shim/transport/lane_caller.h"
#include "client_shim/transport/lane_transport.h"
#include "proto/executor.pb.h"
#include "server/common/endpoint.h"
#include "server/lane/call_lane.h"
#include "server/lane/futex.h"
#include "server/lane/spin_budget.h"
#include "server/shm/shared_region.h"
#include "tests/fuzz/fuzz_util.h"

namespace aoti_executor {
namespace fuzz {
namespace {

constexpr size_t kMaxPatches = 16;

std::atomic<uint32_t>* StateWord(const SharedRegion& region) {
  return reinterpret_cast<std::atomic<uint32_t>*>(region.data());
}

// Takes the posted call and writes whatever the input says, as a broken
// worker could.
// Gives up once `stop` is set (the caller gave the call up first).
void HostileWorker(const std::shared_ptr<SharedRegion>& region,
                   absl::string_view answer, uint32_t state,
                   absl::string_view patches, const std::atomic<bool>& stop) {
  auto lane = CallLane::Over(region);
  FUZZ_CHECK(lane.ok());
  SpinBudget no_spin(0);
  std::string request;
  int64_t deadline_ns = 0;
  if (!lane->TakeRequest(stop, &no_spin, &request, &deadline_ns)) return;
  uint8_t* answer_area =
      region->data() + CallLane::kHeaderBytes + lane->request_capacity();
  std::memcpy(answer_area, answer.data(),
              std::min<size_t>(answer.size(), lane->answer_capacity()));
  FuzzReader in(reinterpret_cast<const uint8_t*>(patches.data()),
                patches.size());
  for (size_t i = 0; i < kMaxPatches && !in.empty(); ++i) {
    // Past the state word: its final value is `state`.
    const size_t offset =
        4 + in.Int<uint16_t>() % (CallLane::kHeaderBytes - 12);
    const uint64_t value = in.Int<uint64_t>();
    std::memcpy(region->data() + offset, &value, sizeof(value));
  }
  StateWord(*region)->store(state);
  FutexWakeAll(StateWord(*region));
}

}  // namespace
}  // namespace fuzz
}  // namespace aoti_executor

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aoti_executor;
  using namespace aoti_executor::fuzz;
  FuzzReader in(data, size);
  const absl::string_view answer = in.Chunk();
  // Most inputs (short ones too) end the call properly: one in eight
  // publishes any state, and a state that never ends the wait costs the
  // caller's deadline, and one the caller cannot take back (idle,
  // answering, abandoned) a grace period on top.
  const uint8_t state_byte = in.Byte();
  const uint32_t state =
      state_byte % 64 >= 56 ? state_byte % 8 : uint32_t{CallLane::kAnswered};
  const absl::string_view patches = in.Rest();

  auto created = CallLane::CreateRegion();
  FUZZ_CHECK(created.ok());
  std::shared_ptr<SharedRegion> region = *created;
  // The shim's way to its lanes: a transport whose one lane is this one.
  Endpoint endpoint;
  endpoint.address = "/nonexistent/aoti-executor.sock";
  bool opened = false;
  client::LaneTransport transport(
      [&](absl::Time) -> absl::StatusOr<std::shared_ptr<client::LaneCaller>> {
        if (opened) return absl::ResourceExhaustedError("one lane only");
        opened = true;
        auto lane = CallLane::Over(region);
        FUZZ_CHECK(lane.ok());
        return std::make_shared<client::LaneCaller>(*std::move(lane),
                                                    [] { return true; });
      },
      /*enabled=*/true, &endpoint);

  std::atomic<bool> stop{false};
  std::thread worker(
      [&] { HostileWorker(region, answer, state, patches, stop); });
  aoti::executor::v1::CallRequest request;
  request.set_kernel_set_id(1);
  request.add_ints(2);
  // A state that never ends the wait costs the whole deadline: short for
  // those, and long enough for the others on a loaded machine.
  const bool ends =
      state == CallLane::kAnswered || state == CallLane::kReturned;
  auto result = transport.TryCall(
      request,
      absl::Now() + (ends ? absl::Seconds(5) : absl::Milliseconds(20)));
  stop = true;
  FutexWakeAll(StateWord(*region));
  worker.join();
  // A failure is the worker's code and message, or the lane's own.
  if (result.has_value() && !result->ok()) {
    FUZZ_CHECK(!result->status().message().empty());
  }
  return 0;
}
