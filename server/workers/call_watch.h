// A page the worker shares with the daemon only: which lane call it runs,
// since when and until when, and how many lane calls it has answered.
//
// The call lane itself is shared with the client, who could write anything
// there; this page is not, so the daemon can trust it as far as it trusts
// the worker: to kill a worker whose call ran past its deadline and to
// charge a crash to the node that was really running.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_CALL_WATCH_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_CALL_WATCH_H_

#include <atomic>
#include <cstdint>

namespace aoti_executor {

struct CallWatch {
  static constexpr uint64_t kBytes = 4096;

  // The call now running, if `running`: its fields are written before
  // running is set (release) and read after it (acquire).
  std::atomic<uint32_t> running;
  std::atomic<uint64_t> kernel_set_id;
  std::atomic<int64_t> node_index;
  std::atomic<int64_t> started_ns;   // CLOCK_MONOTONIC
  std::atomic<int64_t> deadline_ns;  // the client's, CLOCK_MONOTONIC
  // Lane calls answered, by outcome.
  std::atomic<int64_t> calls_succeeded;
  std::atomic<int64_t> calls_failed;
  // As in CallResult, after the latest call on either path: lane calls do
  // not pass the daemon, so it reads these here.
  std::atomic<uint64_t> output_bytes_in_use;
  std::atomic<uint64_t> output_bytes_copied;

  void Begin(uint64_t kernel_set, int64_t node, int64_t started,
             int64_t deadline) {
    kernel_set_id.store(kernel_set, std::memory_order_relaxed);
    node_index.store(node, std::memory_order_relaxed);
    started_ns.store(started, std::memory_order_relaxed);
    deadline_ns.store(deadline, std::memory_order_relaxed);
    running.store(1, std::memory_order_release);
  }

  void End(bool succeeded) {
    running.store(0, std::memory_order_release);
    (succeeded ? calls_succeeded : calls_failed)
        .fetch_add(1, std::memory_order_relaxed);
  }
};

static_assert(sizeof(CallWatch) <= CallWatch::kBytes, "one page");

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_CALL_WATCH_H_
