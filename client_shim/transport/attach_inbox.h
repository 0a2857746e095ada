// What the daemon sends a session on its attach socket, as it arrives: the
// memfds of the worker's output regions (kOutputRegion frames), of the
// session's call lanes (kCallLane) and of the kernel set it registered from
// its file (kKernelSetJson). Regions and lanes are mapped once, by whichever
// thread is reading when they arrive: output regions are handed straight to
// the session's OutputRegions, lanes kept until the session takes them, as
// are kernel set memfds, unmapped.
//
// The daemon sends an output region before the answer that first names it,
// and a lane or a kernel set before the answer to the RPC that asked for
// it, so a reader that waits for one never waits long.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_ATTACH_INBOX_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_ATTACH_INBOX_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client_shim/transport/attach_socket.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {
namespace client {

class AttachInbox {
 public:
  // Takes a newly mapped output region; runs on the reading thread.
  using RegionSink = std::function<void(uint64_t region_id,
                                        std::shared_ptr<SharedRegion> region)>;

  // `socket` must outlive this object.
  AttachInbox(AttachSocket* socket, RegionSink on_output_region)
      : socket_(socket), on_output_region_(std::move(on_output_region)) {}

  // Reads and maps frames until `arrived()` holds or `deadline` passes;
  // `what` names what is awaited, in errors. One thread reads at a time:
  // the others wait for it (until their own deadline), then ask `arrived`
  // again. Thread-safe.
  absl::Status ReadUntil(const std::function<bool()>& arrived,
                         absl::Time deadline, const std::string& what);

  // The call lane sent with `lane_id`, reading frames until it arrives or
  // `deadline` passes. Thread-safe.
  absl::StatusOr<std::shared_ptr<SharedRegion>> TakeCallLane(
      uint64_t lane_id, absl::Time deadline);

  // The kKernelSetJson frame of kernel set `kernel_set_id` (its fd, and the
  // size of the JSON at its start), reading frames until it arrives or
  // `deadline` passes. Thread-safe.
  absl::StatusOr<ReceivedFrame> TakeKernelSetJson(uint64_t kernel_set_id,
                                                  absl::Time deadline);

 private:
  absl::Status Adopt(ReceivedFrame received);
  // What arrived with `id` in `arrived` (lanes_ or kernel_set_jsons_),
  // reading frames until it does or `deadline` passes; `what` names it.
  template <typename T>
  absl::StatusOr<T> Take(std::map<uint64_t, T>* arrived, uint64_t id,
                         absl::Time deadline, const std::string& what);

  AttachSocket* const socket_;
  const RegionSink on_output_region_;
  // Serializes reads of the socket; timed, so a waiter gives up at its own
  // deadline.
  std::timed_mutex read_mu_;
  absl::Mutex mu_;
  std::map<uint64_t, std::shared_ptr<SharedRegion>> lanes_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, ReceivedFrame> kernel_set_jsons_ ABSL_GUARDED_BY(mu_);
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_ATTACH_INBOX_H_
