// The gRPC channels of this process to its daemons, one per endpoint, shared
// by the sessions: a session opened after another (a second model, a model
// reloaded, an executor deleted and created again) reuses the first one's
// connection instead of paying a new connection and HTTP/2 handshake (about
// a millisecond on a Unix socket; a TLS handshake over TCP).
//
// A shared channel must never make a session worse off than a fresh one:
// - one waiting out gRPC's reconnect backoff (its daemon was down a while
//   ago) is not handed out: a new channel replaces it, which connects at
//   once, so reconnecting keeps to the shim's own backoff
//   (reconnect_backoff.h);
// - one that looks connected but whose daemon has gone (an idle gRPC client
//   reads its connection only now and then) fails the session's first RPC
//   at once, with no daemon to blame ("Broken pipe"): Session::Open then
//   asks Renew for a new channel and tries once more, so that a reconnect
//   attempt reaches a restarted daemon, or finds it absent, first time;
// - a child forked from this process never touches its parent's channels.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_SESSION_DAEMON_CHANNELS_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_SESSION_DAEMON_CHANNELS_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/common/endpoint.h"

namespace aoti_executor {
namespace client {

class DaemonChannels {
 public:
  // The one of this process; never destroyed, so that no channel is torn
  // down after gRPC's own statics at exit.
  static DaemonChannels& Process();

  struct Channel {
    std::shared_ptr<grpc::Channel> channel;
    // Made before this Get, for an earlier session: it may be stale.
    bool reused = false;
  };

  // The channel to `endpoint` (address and TLS settings alike): the one
  // kept if it is connected, connecting or idle, else a new one, kept from
  // now on. Thread-safe.
  Channel Get(const Endpoint& endpoint);

  // A new channel to `endpoint` in place of `stale`, unless another session
  // has replaced it already (then that one). Thread-safe.
  std::shared_ptr<grpc::Channel> Renew(
      const Endpoint& endpoint, const std::shared_ptr<grpc::Channel>& stale);

 private:
  DaemonChannels() = default;

  // Where the channel to `endpoint` is kept. After a fork, the parent's
  // channels are first left alone (not even destroyed: their threads do not
  // exist here).
  std::shared_ptr<grpc::Channel>& Kept(const Endpoint& endpoint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  // Keyed by what makes a channel (KeyOf in the .cc).
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_
      ABSL_GUARDED_BY(mu_);
  // The process whose channels these are.
  pid_t owner_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_SESSION_DAEMON_CHANNELS_H_
