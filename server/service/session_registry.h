// All live sessions, and the attach socket that creates them.
//
// Connecting to the attach socket opens a session: the registry reads the
// peer's credentials, checks them against the peer policy, makes a secret,
// sends it in a kWelcome frame, and reads the connection until it closes,
// which ends the session. A refused peer gets a kWelcome frame with no
// secret, whose `id` is the uid the daemon saw, and the connection closes.
// One thread accepts; one thread per session reads (sessions are few: one
// per client process and model).
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_SESSION_REGISTRY_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_SESSION_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/common/daemon_stats.h"
#include "server/common/unique_fd.h"
#include "server/service/peer_policy.h"
#include "server/service/session.h"

namespace aoti_executor {

class SessionRegistry {
 public:
  // `workers` (where each session's worker comes from) must outlive the
  // registry.
  explicit SessionRegistry(WorkerPool* workers) : workers_(workers) {}
  ~SessionRegistry();  // Stop()
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  // Binds the attach socket at `path` (mode 0660; a stale socket file is
  // replaced, a live one is an error) and starts accepting connections that
  // `policy` allows; refused ones are counted in `stats`
  // (peers_refused_attach). Both must outlive the registry.
  absl::Status Start(const std::string& path, const PeerPolicy* policy,
                     DaemonStats* stats);
  // Stops accepting, ends every session and joins the threads.
  void Stop();
  // Before Stop: lets the calls in flight on call lanes finish (they do not
  // pass gRPC, whose shutdown drains the others), taking no new ones, until
  // none is left or `deadline`. Returns how many were still running.
  int64_t DrainLanes(absl::Time deadline);

  const std::string& path() const { return path_; }
  // The attach socket file's group (the default policy's group).
  gid_t socket_gid() const { return socket_gid_; }
  // Every session gets it: the service sets the lane watchdog in it.
  LaneCloserSlot* lane_closer() const { return lane_closer_.get(); }
  const WorkerOptions& worker_options() const { return workers_->options(); }

  // The session whose secret is `secret`. PermissionDenied if none: a
  // secret is the only way to name a session.
  absl::StatusOr<std::shared_ptr<Session>> Find(
      const std::string& secret) const;

  size_t size() const;
  // Every live session, for the lane watchdog.
  std::vector<std::shared_ptr<Session>> Snapshot() const;
  // Sums over live sessions, for GetStatus.
  struct Totals {
    int64_t regions = 0;
    int64_t mapped_bytes = 0;
    int64_t output_bytes_in_use = 0;
    int64_t output_bytes_copied = 0;
    int64_t workers = 0;
    // Over the call lanes of the live workers.
    int64_t call_lanes = 0;
    int64_t lane_calls_succeeded = 0;
    int64_t lane_calls_failed = 0;
    int64_t lane_calls_in_flight = 0;
  };
  Totals Sum() const;

 private:
  void AcceptLoop();
  void Open(UniqueFd connection);
  // Tells a refused peer why (a kWelcome frame without a secret); Open then
  // closes the connection.
  void Refuse(int connection, const PeerCredentials& peer,
              const absl::Status& why);
  void ReadLoop(std::shared_ptr<Session> session);

  WorkerPool* const workers_;
  const std::shared_ptr<LaneCloserSlot> lane_closer_ =
      std::make_shared<LaneCloserSlot>();
  std::string path_;
  const PeerPolicy* policy_ = nullptr;
  DaemonStats* stats_ = nullptr;
  gid_t socket_gid_ = 0;
  UniqueFd listen_fd_;
  // A pipe whose write interrupts AcceptLoop's poll.
  UniqueFd wake_read_;
  UniqueFd wake_write_;
  std::thread acceptor_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_
      ABSL_GUARDED_BY(mu_);
  int live_readers_ ABSL_GUARDED_BY(mu_) = 0;  // detached ReadLoop threads
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_SESSION_REGISTRY_H_
