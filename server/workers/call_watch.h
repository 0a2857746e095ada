// A page the worker shares with the daemon only: which lane call it runs,
// since when and until when, how many lane calls it has answered, and
// whether the daemon has gated the lane.
//
// The call lane itself is shared with the client, who could write anything
// there; this page is not, so the daemon can trust it as far as it trusts
// the worker: to kill a worker whose call ran past its deadline, to charge a
// crash to the node that was really running, and to refuse lane calls while
// a node of the session's model is quarantined.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_CALL_WATCH_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_CALL_WATCH_H_

#include <atomic>
#include <cstdint>

namespace aoti_executor {

struct CallWatch {
  static constexpr uint64_t kBytes = 4096;

  // The call now running, if `running`. A seqlock: `sequence` is odd while
  // the worker rewrites the fields, so a reader can tell a torn view.
  std::atomic<uint64_t> sequence;
  std::atomic<uint32_t> running;
  std::atomic<uint64_t> kernel_set_id;
  std::atomic<int64_t> node_index;
  std::atomic<int64_t> started_ns;   // CLOCK_MONOTONIC
  std::atomic<int64_t> deadline_ns;  // the client's, CLOCK_MONOTONIC
  // Lane calls answered (the answer was delivered), by outcome.
  std::atomic<int64_t> calls_succeeded;
  std::atomic<int64_t> calls_failed;
  // As in CallResult, after the latest call on either path: lane calls do
  // not pass the daemon, so it reads these here.
  std::atomic<uint64_t> output_bytes_in_use;
  std::atomic<uint64_t> output_bytes_copied;
  // Written by the daemon: refuse lane calls (a node of the session's model
  // is quarantined; the Call RPC checks which).
  std::atomic<uint32_t> gated;

  // A consistent view of the running call.
  struct Call {
    uint64_t sequence = 0;
    bool running = false;
    uint64_t kernel_set_id = 0;
    int64_t node_index = 0;
    int64_t started_ns = 0;
    int64_t deadline_ns = 0;
  };

  void Begin(uint64_t kernel_set, int64_t node, int64_t started,
             int64_t deadline) {
    sequence.fetch_add(1, std::memory_order_acq_rel);
    kernel_set_id.store(kernel_set, std::memory_order_relaxed);
    node_index.store(node, std::memory_order_relaxed);
    started_ns.store(started, std::memory_order_relaxed);
    deadline_ns.store(deadline, std::memory_order_relaxed);
    running.store(1, std::memory_order_relaxed);
    sequence.fetch_add(1, std::memory_order_release);
  }

  void Finish() {
    sequence.fetch_add(1, std::memory_order_acq_rel);
    running.store(0, std::memory_order_relaxed);
    sequence.fetch_add(1, std::memory_order_release);
  }

  void Count(bool succeeded, int64_t delta) {
    (succeeded ? calls_succeeded : calls_failed)
        .fetch_add(delta, std::memory_order_relaxed);
  }

  // False if the worker kept rewriting the call while we read.
  bool Read(Call* call) const {
    for (int attempt = 0; attempt < 100; ++attempt) {
      const uint64_t before = sequence.load(std::memory_order_acquire);
      if (before % 2 != 0) continue;
      call->running = running.load(std::memory_order_relaxed) != 0;
      call->kernel_set_id = kernel_set_id.load(std::memory_order_relaxed);
      call->node_index = node_index.load(std::memory_order_relaxed);
      call->started_ns = started_ns.load(std::memory_order_relaxed);
      call->deadline_ns = deadline_ns.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (sequence.load(std::memory_order_relaxed) == before) {
        call->sequence = before;
        return true;
      }
    }
    return false;
  }
};

static_assert(sizeof(CallWatch) <= CallWatch::kBytes, "one page");

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_CALL_WATCH_H_
