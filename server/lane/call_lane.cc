#include "server/lane/call_lane.h"

#include <sched.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/lane/futex.h"

namespace aoti_executor {

// The shared header. Every field is atomic: the peer may write any of them at
// any time. A fresh memfd reads as zeros: idle, open, not gated.
struct CallLane::Header {
  alignas(64) std::atomic<uint32_t> state;
  std::atomic<uint32_t> closed;
  std::atomic<uint32_t> gated;
  // Set by a side about to sleep on `state`, so the other side knows to wake
  // it; each side has one thread on the lane at a time.
  alignas(64) std::atomic<uint32_t> worker_sleeping;
  alignas(64) std::atomic<uint32_t> client_sleeping;
  // The posted call: written before kPosted, read after it.
  alignas(64) std::atomic<int64_t> deadline_ns;
  std::atomic<uint64_t> request_bytes;
  // When it was posted (monotonic), for the worker's spin budget.
  std::atomic<int64_t> posted_ns;
  // The answer: written before kAnswered, read after it.
  alignas(64) std::atomic<uint64_t> answer_bytes;
  // When it was answered (monotonic), for the client's spin budget.
  std::atomic<int64_t> answered_ns;
};

static_assert(sizeof(std::atomic<int64_t>) == sizeof(int64_t) &&
                  std::atomic<int64_t>::is_always_lock_free &&
                  std::atomic<uint64_t>::is_always_lock_free,
              "the lane header is shared between processes");

absl::StatusOr<std::shared_ptr<SharedRegion>> CallLane::CreateRegion() {
  auto region = SharedRegion::Create("aoti-call-lane", kBytes);
  if (!region.ok()) return region.status();
  return std::make_shared<SharedRegion>(*std::move(region));
}

absl::StatusOr<CallLane> CallLane::Over(std::shared_ptr<SharedRegion> region) {
  static_assert(sizeof(Header) <= kHeaderBytes, "the header fits its page");
  if (region == nullptr || region->size() != kBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a call lane is ", kBytes, " bytes, not ",
                     region == nullptr ? 0 : region->size()));
  }
  return CallLane(std::move(region), (kBytes - kHeaderBytes) / 2);
}

CallLane::CallLane(std::shared_ptr<SharedRegion> region, uint64_t area_bytes)
    : region_(std::move(region)), area_bytes_(area_bytes) {}

CallLane::Header* CallLane::header() const {
  return reinterpret_cast<Header*>(region_->data());
}

uint8_t* CallLane::request_area() const {
  return region_->data() + kHeaderBytes;
}

uint8_t* CallLane::answer_area() const {
  return region_->data() + kHeaderBytes + area_bytes_;
}

CallLane::State CallLane::state() const {
  return static_cast<State>(header()->state.load(std::memory_order_acquire));
}

bool CallLane::closed() const { return header()->closed.load() != 0; }

void CallLane::SetGated(bool gated) { header()->gated.store(gated ? 1 : 0); }

void CallLane::StopTakingCalls() { header()->closed.store(1); }

void CallLane::Publish(State next, std::atomic<uint32_t>* sleeping) {
  // seq_cst on both sides (here: store state, load sleeping; the sleeper:
  // store sleeping, load state) so at least one sees the other.
  header()->state.store(next, std::memory_order_seq_cst);
  if (sleeping->load(std::memory_order_seq_cst) != 0) {
    FutexWakeAll(&header()->state);
  }
}

void CallLane::WakeAll() { FutexWakeAll(&header()->state); }

template <typename Done>
int64_t CallLane::Wait(Done done, std::atomic<uint32_t>* sleeping,
                       const std::atomic<int64_t>& ready_ns,
                       int64_t deadline_ns, SpinBudget* spin) {
  std::atomic<uint32_t>& state = header()->state;
  const int64_t start = MonotonicNanos();
  uint32_t seen = state.load(std::memory_order_acquire);
  if (!done(seen) && spin->spin_ns() > 0) {
    const int64_t spin_until = start + spin->spin_ns();
    for (uint32_t i = 1; !done(seen); ++i) {
      CpuRelax();
      // A clock read costs about 20 ns: not on every turn.
      if (i % 64 == 0 && MonotonicNanos() >= spin_until) break;
      // About every microsecond, let a runnable thread have this CPU: with
      // more busy processes than CPUs, the side being waited for may be
      // queued behind this spinner, and each hand-off waits for a yield
      // (every 256 turns, some 5 us, a loaded 2-vCPU machine took 15.5 us
      // a call back to back; every 64, 10.6 us). A yield with nothing else
      // to run costs about 0.4 us.
      if (i % 64 == 0) sched_yield();
      seen = state.load(std::memory_order_acquire);
    }
  }
  while (!done(seen)) {
    const int64_t now = MonotonicNanos();
    if (now >= deadline_ns) {
      spin->Observe(now - start);
      return -1;
    }
    sleeping->store(1, std::memory_order_seq_cst);
    seen = state.load(std::memory_order_seq_cst);
    if (!done(seen)) FutexWait(&state, seen, deadline_ns);
    sleeping->store(0, std::memory_order_relaxed);
    seen = state.load(std::memory_order_acquire);
  }
  // The budget learns when the peer was ready, not when we saw it: after a
  // sleep that is a wake-up later, and a short gap slept through must still
  // count as short. The stamp is the peer's word, so it is clamped to what
  // we saw ourselves (a stale one, of a stop or a handed-back call, reads 0).
  const int64_t waited = MonotonicNanos() - start;
  spin->Observe(std::clamp<int64_t>(
      ready_ns.load(std::memory_order_relaxed) - start, 0, waited));
  return seen;
}

bool CallLane::Usable() const {
  const Header* h = header();
  return h->closed.load() == 0 && h->gated.load() == 0 && state() == kIdle;
}

absl::Status CallLane::Post(absl::string_view request, int64_t deadline_ns) {
  Header* h = header();
  if (request.size() > request_capacity()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a request of ", request.size(), " bytes does not fit the call lane's ",
        request_capacity()));
  }
  if (state() != kIdle) {
    return absl::FailedPreconditionError(
        absl::StrCat("the call lane is not idle (state ", state(), ")"));
  }
  std::memcpy(request_area(), request.data(), request.size());
  h->request_bytes.store(request.size(), std::memory_order_relaxed);
  h->deadline_ns.store(deadline_ns, std::memory_order_relaxed);
  h->posted_ns.store(MonotonicNanos(), std::memory_order_relaxed);
  Publish(kPosted, &h->worker_sleeping);
  // The daemon closes the lane (store closed, then load state) as we post
  // (store state, then load closed): one of us sees the other. If it closed,
  // take the call back unless the worker or the daemon claimed it.
  if (h->closed.load(std::memory_order_seq_cst) != 0) {
    uint32_t posted = kPosted;
    if (h->state.compare_exchange_strong(posted, kIdle)) {
      return absl::UnavailableError("the call lane closed");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::optional<std::string>> CallLane::AwaitAnswer(
    int64_t deadline_ns, SpinBudget* spin,
    const std::function<bool()>& daemon_alive) {
  Header* h = header();
  auto answered = [](uint32_t s) { return s == kAnswered || s == kReturned; };
  while (true) {
    const int64_t slice_end =
        std::min(deadline_ns, MonotonicNanos() + kLivenessCheckNs);
    if (Wait(answered, &h->client_sleeping, h->answered_ns, slice_end, spin) >=
        0) {
      return TakeAnswer();
    }
    if (MonotonicNanos() >= deadline_ns) {
      return GiveUp(absl::DeadlineExceededError(
          "no answer on the call lane by the deadline"));
    }
    if (!daemon_alive()) {
      return GiveUp(absl::UnavailableError(
          "aoti-executord went away while the call was on the call lane"));
    }
  }
}

absl::StatusOr<absl::optional<std::string>> CallLane::GiveUp(
    const absl::Status& why) {
  Header* h = header();
  for (uint32_t from : {kPosted, kRunning}) {
    uint32_t expected = from;
    if (h->state.compare_exchange_strong(expected, kAbandoned)) return why;
  }
  // An answer is being written right now: wait a little for it rather than
  // lose the call.
  // The writer is copying at most half a megabyte, or died doing so and the
  // daemon takes over once it is reaped.
  constexpr int64_t kGraceNs = 100000000;
  SpinBudget no_spin(0);
  if (Wait([](uint32_t s) { return s == kAnswered || s == kReturned; },
           &h->client_sleeping, h->answered_ns, MonotonicNanos() + kGraceNs,
           &no_spin) < 0) {
    return why;
  }
  return TakeAnswer();
}

absl::StatusOr<absl::optional<std::string>> CallLane::TakeAnswer() {
  Header* h = header();
  if (h->state.load(std::memory_order_acquire) == kReturned) {
    h->state.store(kIdle, std::memory_order_release);
    return absl::nullopt;
  }
  const uint64_t bytes = h->answer_bytes.load(std::memory_order_relaxed);
  if (bytes > answer_capacity()) {
    h->state.store(kIdle);
    return absl::InternalError(absl::StrCat("the call lane's answer claims ",
                                            bytes, " bytes, more than its ",
                                            answer_capacity()));
  }
  absl::optional<std::string> answer(
      absl::in_place, reinterpret_cast<const char*>(answer_area()), bytes);
  h->state.store(kIdle, std::memory_order_release);
  return answer;
}

bool CallLane::TakeRequest(const std::atomic<bool>& stop, SpinBudget* spin,
                           std::string* request, int64_t* deadline_ns) {
  Header* h = header();
  auto posted_or_stop = [&stop](uint32_t s) {
    return s == kPosted || stop.load(std::memory_order_relaxed);
  };
  // Sleeps in slices: `stop` is not the futex word, so a wake-up that comes
  // between its check and the sleep would otherwise be lost.
  constexpr int64_t kStopCheckNs = 250000000;
  while (!stop.load()) {
    if (Wait(posted_or_stop, &h->worker_sleeping, h->posted_ns,
             MonotonicNanos() + kStopCheckNs, spin) < 0) {
      continue;
    }
    uint32_t posted = kPosted;
    // Lost only to a client taking its call back from a closing lane.
    if (!h->state.compare_exchange_strong(posted, kRunning)) continue;
    const uint64_t bytes = std::min<uint64_t>(
        h->request_bytes.load(std::memory_order_relaxed), request_capacity());
    request->assign(reinterpret_cast<const char*>(request_area()), bytes);
    *deadline_ns = h->deadline_ns.load(std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool CallLane::Answer(absl::string_view answer) {
  Header* h = header();
  uint32_t running = kRunning;
  if (!h->state.compare_exchange_strong(running, kAnswering)) return false;
  const size_t bytes = std::min<size_t>(answer.size(), answer_capacity());
  std::memcpy(answer_area(), answer.data(), bytes);
  h->answer_bytes.store(bytes, std::memory_order_relaxed);
  h->answered_ns.store(MonotonicNanos(), std::memory_order_relaxed);
  Publish(kAnswered, &h->client_sleeping);
  return true;
}

bool CallLane::CloseAndFail(absl::string_view answer) {
  Header* h = header();
  h->closed.store(1, std::memory_order_seq_cst);
  bool failed = false;
  // Bounded: a hostile client flipping the state must not hold the daemon.
  for (int attempt = 0; attempt < 64; ++attempt) {
    uint32_t seen = h->state.load(std::memory_order_seq_cst);
    if (seen != kPosted && seen != kRunning && seen != kAnswering) break;
    if (seen == kPosted) {
      if (h->state.compare_exchange_strong(seen, kReturned)) break;
      continue;
    }
    if (!h->state.compare_exchange_strong(seen, kAnswering)) continue;
    const size_t bytes = std::min<size_t>(answer.size(), answer_capacity());
    std::memcpy(answer_area(), answer.data(), bytes);
    h->answer_bytes.store(bytes, std::memory_order_relaxed);
    h->state.store(kAnswered, std::memory_order_seq_cst);
    failed = true;
    break;
  }
  WakeAll();
  return failed;
}

}  // namespace aoti_executor
