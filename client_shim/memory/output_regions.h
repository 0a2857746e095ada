// The daemon's output regions of one session, as the client maps them.
//
// The daemon sends each output region's memfd on the attach socket before it
// answers the first call whose outputs lie in it. A region is adopted
// (mapped) the first time an answer names it, by reading frames until its
// kOutputRegion arrives, and stays mapped for the session: the daemon may put
// later outputs in it. Each output tensor holds a shared_ptr to its region,
// so it stays readable after the session or the daemon is gone.
//
// The same socket brings the session's call lanes (kCallLane); as one reader
// serves both, lanes are kept here until TakeCallLane asks for them.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_OUTPUT_REGIONS_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_OUTPUT_REGIONS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client_shim/transport/attach_socket.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {
namespace client {

// A region the client has mapped, and its id in the session.
struct KnownRegion {
  uint64_t region_id = 0;
  std::shared_ptr<SharedRegion> region;
};

class OutputRegions {
 public:
  // `socket` must outlive this object.
  explicit OutputRegions(AttachSocket* socket) : socket_(socket) {}

  // The region `region_id`: mapped already, or adopted from the attach
  // socket, reading (and adopting) frames until its frame arrives or
  // `deadline` passes. Thread-safe; one thread reads the socket at a time.
  absl::StatusOr<std::shared_ptr<SharedRegion>> Get(uint64_t region_id,
                                                    absl::Time deadline);

  // The region `region_id` if it is mapped already; never reads the socket.
  absl::optional<std::shared_ptr<SharedRegion>> Mapped(
      uint64_t region_id) const;

  // The mapped region that holds all of [p, p + n), if any. Thread-safe.
  absl::optional<KnownRegion> Find(const void* p, uint64_t n) const;

  // Unmaps region `region_id` once no tensor uses it (the daemon retired it).
  void Forget(uint64_t region_id);

  // The call lane sent with `lane_id`, reading frames until it arrives or
  // `deadline` passes. Thread-safe.
  absl::StatusOr<std::shared_ptr<SharedRegion>> TakeCallLane(
      uint64_t lane_id, absl::Time deadline);

  size_t size() const;

 private:
  absl::Status Adopt(const ReceivedFrame& received);
  // Reads and adopts frames until `arrived()` holds (checked under mu_).
  absl::Status ReadUntil(const std::function<bool()>& arrived,
                         absl::Time deadline, const std::string& what);

  AttachSocket* const socket_;
  // Serializes reads of the attach socket; timed, so a waiter gives up at its
  // own deadline.
  std::timed_mutex read_mu_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, std::shared_ptr<SharedRegion>> by_id_ ABSL_GUARDED_BY(mu_);
  // Mapping start address -> region id, for Find.
  std::map<uintptr_t, uint64_t> by_address_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<SharedRegion>> lanes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_OUTPUT_REGIONS_H_
