#include "server/service/unix_grpc_listener.h"

#include <fcntl.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "server/common/peer_refusal.h"
#include "server/common/status_macros.h"
#include "server/common/unix_socket_path.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

// Answers every RPC of a refused connection PERMISSION_DENIED, naming the
// uid the connection was accepted from (by its fd: a channel's fd stays open,
// and so keeps its number, while any of its calls lives).
class RefusalService final : public grpc::CallbackGenericService {
 public:
  void Remember(int fd, uid_t uid) {
    absl::MutexLock lock(&mu_);
    uids_[fd] = uid;
  }

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    class Refusal final : public grpc::ServerGenericBidiReactor {
     public:
      explicit Refusal(std::string message) {
        Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, message));
      }
      void OnDone() override { delete this; }
    };
    return new Refusal(Message(context->peer()));
  }

 private:
  std::string Message(absl::string_view peer) {
    int fd = -1;
    if (absl::ConsumePrefix(&peer, "fd:") && absl::SimpleAtoi(peer, &fd)) {
      absl::MutexLock lock(&mu_);
      if (auto it = uids_.find(fd); it != uids_.end()) {
        return PeerRefusedMessage(it->second);
      }
    }
    return "aoti-executord refused this process (--allow-uid/--allow-gid)";
  }

  absl::Mutex mu_;
  std::map<int, uid_t> uids_ ABSL_GUARDED_BY(mu_);
};

namespace {

// A refused peer's connection is closed this long after it opened: it has
// had its answer, and must not hold a daemon fd for good.
constexpr int kRefusedConnectionAgeMs = 10000;

}  // namespace

UnixGrpcListener::UnixGrpcListener(const PeerPolicy* policy, DaemonStats* stats)
    : policy_(policy), stats_(stats) {}

absl::StatusOr<std::unique_ptr<UnixGrpcListener>> UnixGrpcListener::Bind(
    const std::vector<std::string>& paths, const PeerPolicy* policy,
    DaemonStats* stats) {
  std::unique_ptr<UnixGrpcListener> listener(
      new UnixGrpcListener(policy, stats));
  AOTI_ASSIGN_OR_RETURN(auto wake, MakePipe());
  listener->wake_read_ = std::move(wake.first);
  listener->wake_write_ = std::move(wake.second);
  for (const std::string& path : paths) {
    Socket socket;
    socket.path = path;
    AOTI_ASSIGN_OR_RETURN(socket.fd, ListenUnixSocket(path, SOCK_STREAM));
    listener->sockets_.push_back(std::move(socket));
    AOTI_ASSIGN_OR_RETURN(listener->sockets_.back().gid, SocketGroup(path));
    spdlog::info("gRPC socket {} allows {}", path,
                 policy->Describe(listener->sockets_.back().gid));
  }
  listener->refusal_service_ = std::make_unique<RefusalService>();
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(listener->refusal_service_.get());
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             kRefusedConnectionAgeMs);
  // Not the health service either: a refused peer learns nothing. The switch
  // is global, read by BuildAndStart: restored for the daemon's server.
  const bool health = grpc::DefaultHealthCheckServiceEnabled();
  grpc::EnableDefaultHealthCheckService(false);
  listener->refusal_server_ = builder.BuildAndStart();
  grpc::EnableDefaultHealthCheckService(health);
  if (listener->refusal_server_ == nullptr) {
    return absl::InternalError("cannot start the refusal gRPC server");
  }
  return listener;
}

UnixGrpcListener::~UnixGrpcListener() { Stop(); }

void UnixGrpcListener::Serve(grpc::Server* server) {
  server_ = server;
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

void UnixGrpcListener::StopAccepting() {
  if (stopped_accepting_) return;
  stopped_accepting_ = true;
  if (wake_write_.valid()) (void)!write(wake_write_.get(), "x", 1);
  if (acceptor_.joinable()) acceptor_.join();
  for (Socket& socket : sockets_) socket.fd.reset();
}

void UnixGrpcListener::Stop() {
  if (stopped_) return;
  stopped_ = true;
  StopAccepting();
  if (refusal_server_ != nullptr) {
    refusal_server_->Shutdown(std::chrono::system_clock::now());
    refusal_server_->Wait();
  }
  for (const Socket& socket : sockets_) unlink(socket.path.c_str());
  wake_read_.reset();
  wake_write_.reset();
}

void UnixGrpcListener::AcceptLoop() {
  std::vector<pollfd> fds;
  for (const Socket& socket : sockets_) {
    fds.push_back({socket.fd.get(), POLLIN, 0});
  }
  fds.push_back({wake_read_.get(), POLLIN, 0});
  while (true) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("gRPC sockets: poll failed: {}", std::strerror(errno));
      return;
    }
    if (fds.back().revents != 0) return;
    for (size_t i = 0; i < sockets_.size(); ++i) {
      if (fds[i].revents != 0) Accept(sockets_[i]);
    }
  }
}

void UnixGrpcListener::Accept(const Socket& socket) {
  // Non-blocking, as gRPC's endpoints are.
  UniqueFd connection(
      accept4(socket.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!connection.valid()) {
    if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
      spdlog::warn("gRPC socket {}: accept failed: {}", socket.path,
                   std::strerror(errno));
    }
    return;
  }
  absl::StatusOr<PeerCredentials> peer = ReadPeerCredentials(connection.get());
  if (!peer.ok()) {
    spdlog::warn("gRPC socket {}: refusing a connection: {}", socket.path,
                 peer.status().ToString());
    return;
  }
  if (absl::Status allowed = policy_->Check(*peer, socket.gid); !allowed.ok()) {
    DaemonStats::Add(stats_->peers_refused_grpc);
    spdlog::warn("gRPC socket {}: refused {}: {}", socket.path,
                 DescribePeer(*peer), std::string(allowed.message()));
    refusal_service_->Remember(connection.get(), peer->uid);
    // gRPC owns the connection from here on.
    grpc::AddInsecureChannelFromFd(refusal_server_.get(), connection.release());
    return;
  }
  grpc::AddInsecureChannelFromFd(server_, connection.release());
}

}  // namespace aoti_executor
