// The daemon's gRPC Unix sockets, with the peer policy enforced per
// connection.
//
// gRPC's own Unix listener tells a call nothing about its peer: in gRPC 1.51
// ServerContext::peer() is "unix:" (not even a path) and the AuthContext
// holds only transport_security_type "insecure" (or "local" under
// LocalServerCredentials), no uid. So the daemon accepts on its Unix sockets
// itself, reads each connection's SO_PEERCRED/SO_PEERGROUPS, checks them
// against the PeerPolicy, and hands the connection to gRPC
// (grpc::AddInsecureChannelFromFd): an allowed one to the daemon's server, a
// refused one to a small server of its own that answers every RPC (the
// health check included) PERMISSION_DENIED with PeerRefusedMessage. Calls on
// the daemon's server then see peer() "fd:N"; only this class makes such
// channels, so "fd:" means "an allowed local peer" (server/service/
// admin_guard.h relies on it).
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_UNIX_GRPC_LISTENER_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_UNIX_GRPC_LISTENER_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

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

namespace aoti_executor {

class RefusalService;

class UnixGrpcListener {
 public:
  // Binds a listening socket at each of `paths` (ListenUnixSocket: mode
  // 0660, directory checks) and starts the refusal server. Accepts nothing
  // until Serve. `policy` and `stats` must outlive the listener.
  static absl::StatusOr<std::unique_ptr<UnixGrpcListener>> Bind(
      const std::vector<std::string>& paths, const PeerPolicy* policy,
      DaemonStats* stats);
  ~UnixGrpcListener();  // Stop()
  UnixGrpcListener(const UnixGrpcListener&) = delete;
  UnixGrpcListener& operator=(const UnixGrpcListener&) = delete;

  // Starts accepting; allowed connections go to `server` (started, and
  // alive until StopAccepting returns).
  void Serve(grpc::Server* server);
  // Stops accepting (before `server` shuts down); connections already handed
  // over stay with gRPC. Idempotent.
  void StopAccepting();
  // StopAccepting, then shuts the refusal server down and removes the
  // socket files.
  void Stop();

 private:
  struct Socket {
    std::string path;
    UniqueFd fd;
    gid_t gid = 0;  // the socket file's group
  };

  UnixGrpcListener(const PeerPolicy* policy, DaemonStats* stats);
  void AcceptLoop();
  void Accept(const Socket& socket);

  const PeerPolicy* const policy_;
  DaemonStats* const stats_;
  std::vector<Socket> sockets_;
  // A pipe whose write interrupts AcceptLoop's poll.
  UniqueFd wake_read_;
  UniqueFd wake_write_;
  std::unique_ptr<RefusalService> refusal_service_;
  std::unique_ptr<grpc::Server> refusal_server_;
  grpc::Server* server_ = nullptr;
  std::thread acceptor_;
  bool stopped_accepting_ = false;
  bool stopped_ = false;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_UNIX_GRPC_LISTENER_H_
