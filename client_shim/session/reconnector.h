// An executor's current session, and the background thread that opens the
// next one, once per backoff window, while calls want one. Calls never
// connect themselves; docs/client.md says what a call waits for and when it
// fails at once.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_SESSION_RECONNECTOR_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_SESSION_RECONNECTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client_shim/session/reconnect_backoff.h"
#include "client_shim/session/session.h"

namespace aoti_executor {
namespace client {

class Reconnector {
 public:
  // Opens a session (Session::Open with the executor's JSON and options);
  // never throws. `canceller` stops it from another thread.
  using OpenFn = std::function<absl::StatusOr<std::shared_ptr<Session>>(
      OpenCanceller* canceller)>;

  // `endpoint` names the daemon in errors.
  Reconnector(std::string endpoint, OpenFn open);
  // Cancels the attempt in progress and joins the reconnect thread.
  ~Reconnector();
  Reconnector(const Reconnector&) = delete;
  Reconnector& operator=(const Reconnector&) = delete;

  // The session the executor's create opened.
  void Adopt(std::shared_ptr<Session> session);
  // Create found no daemon (the local fallback is on): the first call asks
  // for the next attempt.
  void NoteCreateFailed(const absl::Status& error);

  // The current session, or, if it is over, the one the reconnect thread
  // opens (see above). On failure, `*unreachable` says whether the daemon
  // could not be reached at all, so that the call never got to it, which is
  // when a call may fall back. With `fail_fast` (the fallback is on), never
  // waits once an attempt has found the daemon unreachable.
  absl::StatusOr<std::shared_ptr<Session>> Acquire(absl::Time deadline,
                                                   bool fail_fast,
                                                   bool* unreachable);

  // Ends `session` if it is still the current one, and starts reconnecting.
  // The daemon frees every block of a session when its attach socket closes
  // (once the calls in flight on it let go); outputs the client holds keep
  // their memory.
  void Retire(const std::shared_ptr<Session>& session);

  // The nodes of the latest session; null while no daemon has been reached.
  Session::Nodes nodes() const;

  // Whether a failure to open a session means the daemon was not reached:
  // nothing listens, it does not answer in time, or it went away meanwhile.
  static bool IsUnreachable(const absl::Status& status);

 private:
  // Starts the reconnect thread unless it runs (or this is being destroyed).
  absl::Status StartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The reconnect thread: attempts, spaced by backoff_, while calls want a
  // session, until one succeeds or stopping_.
  void Loop();

  const std::string endpoint_;
  const OpenFn open_;
  // Guards the state below, never held across an attempt.
  mutable absl::Mutex mu_;
  std::shared_ptr<Session> session_ ABSL_GUARDED_BY(mu_);
  Session::Nodes nodes_ ABSL_GUARDED_BY(mu_);
  // A call wants a session, and no attempt started since it asked.
  bool wanted_ ABSL_GUARDED_BY(mu_) = false;
  // The reconnect thread runs.
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  // It is opening a session right now (with mu_ released).
  bool connecting_ ABSL_GUARDED_BY(mu_) = false;
  // Finished attempts, so a waiting call knows when the next one ended.
  uint64_t attempts_ ABSL_GUARDED_BY(mu_) = 0;
  ReconnectBackoff backoff_ ABSL_GUARDED_BY(mu_);
  // Set by the destructor: the reconnect thread stops.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Cancels the attempt in progress (the destructor's, so it never waits
  // out a daemon that does not answer).
  std::shared_ptr<OpenCanceller> canceller_ ABSL_GUARDED_BY(mu_);
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_SESSION_RECONNECTOR_H_
