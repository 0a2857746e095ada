#include "server/service/session_registry.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/common/log_context.h"
#include "server/common/status_macros.h"
#include "server/common/unix_socket_path.h"
#include "server/framing/attach_frame.h"
#include "server/framing/fd_channel.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {
namespace {

absl::StatusOr<std::string> MakeSecret() {
  char bytes[AttachFrame::kSecretLength / 2];
  if (getrandom(bytes, sizeof(bytes), 0) !=
      static_cast<ssize_t>(sizeof(bytes))) {
    return absl::ErrnoToStatus(errno, "getrandom");
  }
  return absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

}  // namespace

SessionRegistry::~SessionRegistry() { Stop(); }

absl::Status SessionRegistry::Start(const std::string& path,
                                    const PeerPolicy* policy,
                                    DaemonStats* stats) {
  policy_ = policy;
  stats_ = stats;
  AOTI_ASSIGN_OR_RETURN(listen_fd_, ListenUnixSocket(path, SOCK_SEQPACKET));
  AOTI_ASSIGN_OR_RETURN(auto wake, MakePipe());
  wake_read_ = std::move(wake.first);
  wake_write_ = std::move(wake.second);
  path_ = path;
  AOTI_ASSIGN_OR_RETURN(socket_gid_, SocketGroup(path));
  spdlog::info("attach socket {} allows {}", path,
               policy_->Describe(socket_gid_));
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void SessionRegistry::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || !listen_fd_.valid()) return;
    stopping_ = true;
  }
  (void)!write(wake_write_.get(), "x", 1);
  if (acceptor_.joinable()) acceptor_.join();
  {
    absl::MutexLock lock(&mu_);
    // Wakes each reader: recvmsg returns 0 after shutdown.
    for (auto& [secret, session] : sessions_) {
      shutdown(session->attach_fd(), SHUT_RDWR);
    }
    mu_.Await(absl::Condition(
        +[](int* live) { return *live == 0; }, &live_readers_));
  }
  listen_fd_.reset();  // before the unlink: no connection lands in between
  unlink(path_.c_str());
}

void SessionRegistry::AcceptLoop() {
  pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0},
                   {wake_read_.get(), POLLIN, 0}};
  while (true) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("attach socket: poll failed: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    UniqueFd connection(
        accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!connection.valid()) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        spdlog::warn("attach socket: accept failed: {}", std::strerror(errno));
      }
      continue;
    }
    Open(std::move(connection));
  }
}

void SessionRegistry::Open(UniqueFd owned) {
  const int connection = owned.get();
  auto peer = ReadPeerCredentials(connection);
  if (peer.ok()) {
    if (absl::Status allowed = policy_->Check(*peer, socket_gid_);
        !allowed.ok()) {
      Refuse(connection, *peer, allowed);
      return;  // closes the connection
    }
  }
  auto secret = MakeSecret();
  if (!peer.ok() || !secret.ok()) {
    spdlog::warn("attach socket: refusing a connection: {}",
                 (!peer.ok() ? peer.status() : secret.status()).ToString());
    return;
  }
  // Registered before the client learns its secret: the client's first
  // RegisterKernelSet may arrive the moment the welcome does.
  auto session = std::make_shared<Session>(*secret, std::move(owned), *peer,
                                           workers_, lane_closer_);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;  // the session closes its socket
    sessions_.emplace(*secret, session);
  }
  AttachFrame welcome;
  welcome.type = AttachFrameType::kWelcome;
  std::memcpy(welcome.secret, secret->data(), AttachFrame::kSecretLength);
  if (absl::Status sent = SendFrame(connection, welcome); !sent.ok()) {
    spdlog::debug("attach socket: pid {} left before its welcome: {}",
                  peer->pid, sent.ToString());
    absl::MutexLock lock(&mu_);
    sessions_.erase(*secret);
    return;
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    sessions_.erase(*secret);
    return;
  }
  ++live_readers_;
  // Moved in, so that ReadLoop holds the thread's only reference and can drop
  // it before it counts itself done (a copy left in the lambda would keep the
  // session, and its worker, alive past Stop).
  std::thread([this, session]() mutable {
    ReadLoop(std::move(session));
  }).detach();
  const LogContext context({{"session", peer->pid}});
  spdlog::info("session opened for pid {} uid {} ({} live)", peer->pid,
               peer->uid, sessions_.size());
}

void SessionRegistry::Refuse(int connection, const PeerCredentials& peer,
                             const absl::Status& why) {
  DaemonStats::Add(stats_->peers_refused_attach);
  spdlog::warn("attach socket: refused {}: {}", DescribePeer(peer),
               std::string(why.message()));
  AttachFrame refusal;
  refusal.type = AttachFrameType::kWelcome;  // with no secret: refused
  refusal.id = peer.uid;
  if (absl::Status sent = SendFrame(connection, refusal); !sent.ok()) {
    spdlog::debug("attach socket: pid {} left before its refusal: {}", peer.pid,
                  sent.ToString());
  }
}

// By value: the thread keeps its session alive until the loop ends.
void SessionRegistry::ReadLoop(
    std::shared_ptr<Session>
        session) {  // NOLINT(performance-unnecessary-value-param)
  // Everything this thread logs is about this session.
  const LogContext context({{"session", session->peer().pid}});
  while (true) {
    auto received = ReceiveFrame(session->attach_fd());
    if (!received.ok()) {
      if (!absl::IsUnavailable(received.status())) {
        spdlog::warn("session of pid {}: bad attach frame, closing: {}",
                     session->peer().pid, received.status().ToString());
      }
      break;
    }
    if (received->frame.type != AttachFrameType::kClientRegion ||
        !received->fd.valid()) {
      spdlog::warn(
          "session of pid {}: unexpected attach frame type {}, closing",
          session->peer().pid, static_cast<int>(received->frame.type));
      break;
    }
    if (absl::Status added = session->AddPendingFd(
            received->frame.id, std::move(received->fd), received->frame.size);
        !added.ok()) {
      spdlog::warn("session of pid {}: {}, closing", session->peer().pid,
                   added.ToString());
      break;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    // Counted in the daemon's totals from now on, not in Sum's.
    session->FoldLaneCounts();
    sessions_.erase(session->secret());
    spdlog::info("session of pid {} closed ({} live)", session->peer().pid,
                 sessions_.size());
  }
  // Usually the last reference: the session and its worker end here, before
  // Stop can return, not in a detached thread after the daemon's counters
  // (DaemonStats, on Run's stack) are gone.
  session.reset();
  absl::MutexLock lock(&mu_);
  --live_readers_;
}

absl::StatusOr<std::shared_ptr<Session>> SessionRegistry::Find(
    const std::string& secret) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(secret);
  if (it == sessions_.end()) {
    return absl::PermissionDeniedError(
        "unknown session: connect to the attach socket for a session secret");
  }
  return it->second;
}

size_t SessionRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

SessionRegistry::Totals SessionRegistry::Sum() const {
  absl::MutexLock lock(&mu_);
  Totals totals;
  for (const auto& [secret, session] : sessions_) {
    totals.regions += session->region_count();
    totals.mapped_bytes += session->mapped_bytes();
    totals.output_bytes_in_use += session->output_bytes_in_use();
    totals.output_bytes_copied += session->output_bytes_copied();
    totals.workers += session->worker_running() ? 1 : 0;
    std::shared_ptr<Worker> worker = session->current_worker();
    if (worker == nullptr) continue;
    for (Worker::Lane* lane : worker->lanes()) {
      totals.lane_calls_succeeded += lane->watch()->calls_succeeded.load();
      totals.lane_calls_failed += lane->watch()->calls_failed.load();
      if (lane->closed.load()) continue;
      ++totals.call_lanes;
      const CallLane::State state = lane->lane.state();
      if (state == CallLane::kPosted || state == CallLane::kRunning ||
          state == CallLane::kAnswering) {
        ++totals.lane_calls_in_flight;
      }
    }
  }
  return totals;
}

int64_t SessionRegistry::DrainLanes(absl::Time deadline) {
  for (const std::shared_ptr<Session>& session : Snapshot()) {
    std::shared_ptr<Worker> worker = session->current_worker();
    if (worker == nullptr) continue;
    for (Worker::Lane* lane : worker->lanes()) lane->lane.StopTakingCalls();
  }
  int64_t in_flight = Sum().lane_calls_in_flight;
  while (in_flight > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
    in_flight = Sum().lane_calls_in_flight;
  }
  return in_flight;
}

std::vector<std::shared_ptr<Session>> SessionRegistry::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Session>> sessions;
  sessions.reserve(sessions_.size());
  for (const auto& [secret, session] : sessions_) sessions.push_back(session);
  return sessions;
}

}  // namespace aoti_executor
