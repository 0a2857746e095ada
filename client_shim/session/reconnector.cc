#include "client_shim/session/reconnector.h"

#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"

namespace aoti_executor {
namespace client {

Reconnector::Reconnector(std::string endpoint, OpenFn open)
    : endpoint_(std::move(endpoint)), open_(std::move(open)) {}

Reconnector::~Reconnector() {
  std::shared_ptr<OpenCanceller> canceller;
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    canceller = canceller_;
    thread = std::move(thread_);
  }
  if (canceller != nullptr) canceller->Cancel();
  if (thread.joinable()) thread.join();
}

void Reconnector::Adopt(std::shared_ptr<Session> session) {
  absl::MutexLock lock(&mu_);
  nodes_ = session->nodes();
  session_ = std::move(session);
}

void Reconnector::NoteCreateFailed(const absl::Status& error) {
  absl::MutexLock lock(&mu_);
  backoff_.Failed(error, absl::Now());
}

Session::Nodes Reconnector::nodes() const {
  absl::MutexLock lock(&mu_);
  return nodes_;
}

bool Reconnector::IsUnreachable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

absl::Status Reconnector::StartLocked() {
  if (running_ || stopping_) return absl::OkStatus();
  // A thread that stopped running (running_ is false) has let go of mu_ for
  // good: joining it here is immediate.
  if (thread_.joinable()) thread_.join();
  try {
    thread_ = std::thread([this] { Loop(); });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start a thread to reconnect to aoti-executord at ",
                     endpoint_, ": ", e.what()));
  }
  running_ = true;
  return absl::OkStatus();
}

void Reconnector::Loop() {
  absl::MutexLock lock(&mu_);
  // Attempts only while calls want a session: an idle executor neither
  // connects nor lets its backoff grow; the next call starts this again.
  while (!stopping_ && session_ == nullptr && wanted_) {
    const absl::Time window_end = backoff_.next_attempt();
    if (absl::Now() < window_end) {
      mu_.AwaitWithDeadline(absl::Condition(&stopping_), window_end);
      continue;
    }
    wanted_ = false;
    auto canceller = std::make_shared<OpenCanceller>();
    canceller_ = canceller;
    connecting_ = true;
    mu_.Unlock();  // never held across an attempt; open_ never throws
    absl::StatusOr<std::shared_ptr<Session>> session = open_(canceller.get());
    mu_.Lock();
    connecting_ = false;
    canceller_.reset();
    ++attempts_;
    if (session.ok()) {
      backoff_.Succeeded();
      nodes_ = (*session)->nodes();
      session_ = *std::move(session);
    } else {
      backoff_.Failed(session.status(), absl::Now());
    }
  }
  running_ = false;
}

absl::StatusOr<std::shared_ptr<Session>> Reconnector::Acquire(
    absl::Time deadline, bool fail_fast, bool* unreachable) {
  *unreachable = false;
  absl::MutexLock lock(&mu_);
  if (session_ != nullptr) {
    if (session_->Alive()) return session_;
    // The daemon went away (or restarted): the old session is over. Calls
    // still in flight on it hold it until they fail.
    session_.reset();
  }
  // The attempt under way answers this call too; otherwise ask for one.
  if (!connecting_) wanted_ = true;
  AOTI_RETURN_IF_ERROR(StartLocked());
  const absl::Time window_end = backoff_.next_attempt();
  const absl::Time now = absl::Now();
  const bool failed_before = backoff_.failures() > 0;
  // An attempt since the session ended found nobody to talk to: with the
  // fallback on, the call runs in-process at once. (The first attempt after
  // a session ended is waited for, as by any call: the daemon may well be
  // there, and a retried call of an op that hung there must not run here.)
  if (fail_fast && failed_before && IsUnreachable(backoff_.last_error())) {
    *unreachable = true;
    if (connecting_ || now >= window_end) {
      return absl::UnavailableError(
          absl::StrCat("aoti-executord at ", endpoint_,
                       " is unreachable; reconnecting (last attempt: ",
                       backoff_.last_error().message(), ")"));
    }
    return backoff_.WindowError(endpoint_, now);
  }
  // The window ends after this call's deadline: fail at once.
  if (failed_before && !connecting_ && deadline <= window_end) {
    *unreachable = IsUnreachable(backoff_.last_error());
    return backoff_.WindowError(endpoint_, now);
  }
  // Wait for the attempt under way, or the one due when the window ends.
  const uint64_t target = attempts_ + 1;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return session_ != nullptr || attempts_ >= target || stopping_;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&done), deadline)) {
    const std::string message = absl::StrCat(
        "aoti-executord at ", endpoint_,
        ": the session ended, and reconnecting (in the background) had not "
        "succeeded when this call's deadline passed",
        backoff_.failures() == 0
            ? std::string()
            : absl::StrCat(" (last attempt: ", backoff_.last_error().message(),
                           ")"));
    // The attempt under way may be slow only because the machine is: while
    // the last one found nobody there, the daemon is unreachable, as for
    // the calls that fail inside a backoff window.
    if (backoff_.failures() > 0 && IsUnreachable(backoff_.last_error())) {
      *unreachable = true;
      return absl::UnavailableError(message);
    }
    return absl::DeadlineExceededError(message);
  }
  if (session_ != nullptr) return session_;
  *unreachable = IsUnreachable(backoff_.last_error());
  return WithContext(backoff_.last_error(), "the session ended; reconnecting");
}

void Reconnector::Retire(const std::shared_ptr<Session>& session) {
  absl::MutexLock lock(&mu_);
  if (session_ != session) return;
  session_.reset();
  // Reconnect now, for the calls to come. Best effort: the next call starts
  // the thread if this cannot.
  wanted_ = true;
  (void)StartLocked();
}

}  // namespace client
}  // namespace aoti_executor
