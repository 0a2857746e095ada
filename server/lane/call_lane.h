// A call lane: one call at a time from a client straight to its session's
// worker, through a shared-memory slot with futex doorbells, without the
// daemon or gRPC on the path (docs/protocol.md, "Call lanes").
//
// The daemon makes each lane a session opens (up to --call-lanes), sends its
// memfd to the worker and to the client, and keeps it mapped only to fail the
// call in flight and close the lane when the worker dies or is killed. The
// memory is shared with the client, so nothing in it is trusted: each side
// copies a message out before parsing it, and sizes come from the region's
// size, never from the header.
//
// The state word is the futex both sides sleep on:
//   kIdle     -client posts->         kPosted
//   kPosted   -worker takes->         kRunning
//   kRunning  -worker claims->        kAnswering -worker writes-> kAnswered
//   kPosted, kRunning (or kAnswering of a dead worker)
//             -daemon claims->        kAnswering -daemon writes-> kAnswered
//   kPosted   -daemon (worker dead)-> kReturned: never taken, so never run
//   kAnswered, kReturned -client reads-> kIdle
//   kPosted, kRunning -client gives up at its deadline-> kAbandoned, for good
//             (the daemon then kills the worker)
// A closed lane takes no new call; a client that posted as it closed takes
// its call back unless someone claimed it first.
#ifndef AOTI_EXECUTOR_SERVER_LANE_CALL_LANE_H_
#define AOTI_EXECUTOR_SERVER_LANE_CALL_LANE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "server/lane/spin_budget.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {

class CallLane {
 public:
  // 4 KiB of header, then the request and the answer areas, half each.
  static constexpr uint64_t kBytes = uint64_t{1} << 20;
  static constexpr uint64_t kHeaderBytes = 4096;

  enum State : uint32_t {
    kIdle = 0,
    kPosted = 1,
    kRunning = 2,
    kAnswering = 3,
    kAnswered = 4,
    kAbandoned = 5,
    kReturned = 6,
  };

  // The daemon's: a new lane of kBytes.
  static absl::StatusOr<std::shared_ptr<SharedRegion>> CreateRegion();
  // A lane over `region` (mapped by the caller); InvalidArgument unless it is
  // kBytes long.
  static absl::StatusOr<CallLane> Over(std::shared_ptr<SharedRegion> region);

  uint64_t request_capacity() const { return area_bytes_; }
  uint64_t answer_capacity() const { return area_bytes_; }
  const std::shared_ptr<SharedRegion>& region() const { return region_; }

  // Client side; one call at a time (the client serializes its callers).
  //
  // True while the lane takes calls: open, idle, and not gated by the daemon.
  bool Usable() const;
  // Copies `request` in and rings the worker. Unavailable if the lane closed
  // before anyone took the call (it never ran: the caller may send it
  // another way); FailedPrecondition if the lane is not idle.
  absl::Status Post(absl::string_view request, int64_t deadline_ns);
  // Waits for the answer of the posted call and copies it out; nullopt if
  // the daemon handed the call back untaken (its worker died before taking
  // it: the caller may send it another way). At
  // `deadline_ns` the call is abandoned (DeadlineExceeded) and the lane is
  // done for: its worker will be killed. While it sleeps it asks
  // `daemon_alive` every kLivenessCheckNs: nobody answers or fails a call
  // once the daemon is gone, so then the call is abandoned too
  // (Unavailable).
  static constexpr int64_t kLivenessCheckNs = 20000000;
  absl::StatusOr<absl::optional<std::string>> AwaitAnswer(
      int64_t deadline_ns, SpinBudget* spin,
      const std::function<bool()>& daemon_alive);

  // Worker side.
  //
  // Waits for a posted call and takes it: its request and the client's
  // deadline. False once `stop` is set (and WakeAll called).
  bool TakeRequest(const std::atomic<bool>& stop, SpinBudget* spin,
                   std::string* request, int64_t* deadline_ns);
  // Writes the answer of the taken call (at most answer_capacity() bytes).
  // False if the client abandoned the call meanwhile.
  bool Answer(absl::string_view answer);

  // Daemon side.
  //
  // Closes the lane; if a call was running, answers it with `answer` (which
  // says why) and returns true; a call posted and not taken yet is handed
  // back. Only once the worker is gone: a living worker could be taking the
  // call or writing its own answer.
  bool CloseAndFail(absl::string_view answer);
  void SetGated(bool gated);
  // Takes no new call (a client that posts one takes it back, unless the
  // worker took it first), while the call in flight, if any, goes on: the
  // daemon's drain before it stops.
  void StopTakingCalls();
  State state() const;
  bool closed() const;

  // Wakes everyone sleeping on the lane (a worker told to stop).
  void WakeAll();

 private:
  struct Header;

  CallLane(std::shared_ptr<SharedRegion> region, uint64_t area_bytes);
  Header* header() const;
  uint8_t* request_area() const;
  uint8_t* answer_area() const;
  // Moves the state to `next` and wakes `sleeper`'s side if it sleeps.
  void Publish(State next, std::atomic<uint32_t>* sleeping);
  // Gives the posted call up unless an answer is being written (then waits
  // a little for it). The answer, or `why` if the call was given up.
  absl::StatusOr<absl::optional<std::string>> GiveUp(const absl::Status& why);
  // After kAnswered or kReturned: the answer (nullopt if returned); idle.
  absl::StatusOr<absl::optional<std::string>> TakeAnswer();
  // Waits until `done(state)`, spinning `spin`'s budget first; the state
  // seen, or -1 at the deadline. Tells `spin` how long after the start the
  // peer was ready: `ready_ns`, the peer's stamp of the moment it published.
  template <typename Done>
  int64_t Wait(Done done, std::atomic<uint32_t>* sleeping,
               const std::atomic<int64_t>& ready_ns, int64_t deadline_ns,
               SpinBudget* spin);

  std::shared_ptr<SharedRegion> region_;
  uint64_t area_bytes_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_LANE_CALL_LANE_H_
