// aoti-executord: parses flags, loads op libraries, serves, and drains on
// SIGTERM. Everything else lives in server/service and server/kernels.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/admin_commands.h"
#include "server/common/daemon_stats.h"
#include "server/common/log_format.h"
#include "server/common/protocol.h"
#include "server/common/status_macros.h"
#include "server/common/transport_security.h"
#include "server/common/version.h"
#include "server/daemon_flags.h"
#include "server/health_check.h"
#include "server/kernels/op_library.h"
#include "server/metrics/call_latencies.h"
#include "server/metrics/daemon_collector.h"
#include "server/metrics/metrics_server.h"
#include "server/service/executor_service.h"
#include "server/service/liveness_probe.h"
#include "server/service/peer_policy.h"
#include "server/service/session_registry.h"
#include "server/service/systemd_notifier.h"
#include "server/service/systemd_watchdog.h"
#include "server/service/unix_grpc_listener.h"
#include "server/worker_main.h"
#include "server/workers/worker_pool.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {
namespace {

// How long after the daemon's last RPC returned gRPC has to send its answer
// before it cuts the connections still open.
constexpr absl::Duration kLastAnswersGrace = absl::Seconds(1);

// Blocks SIGTERM and SIGINT in every thread (call before any thread starts)
// so that WaitForStopSignal can take them synchronously.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

int WaitForStopSignal(const sigset_t& signals) {
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  return signal_number;
}

// The daemon's gRPC server and its Unix sockets (accepted by the listener,
// which checks each peer).
struct Grpc {
  std::unique_ptr<UnixGrpcListener> unix;
  std::unique_ptr<grpc::Server> server;
};

// How a tcp: --listen is served: TLS from the --tls-* files, or plain TCP
// (ParseDaemonFlags allowed that only with --insecure-tcp).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpCredentials(
    const DaemonFlags& flags) {
  if (flags.tls_cert.empty()) return grpc::InsecureServerCredentials();
  return ServerTlsCredentials(
      ServerTlsFiles{flags.tls_cert, flags.tls_key, flags.tls_client_ca});
}

std::string TcpSecurity(const DaemonFlags& flags) {
  if (flags.tls_cert.empty()) return "plain TCP (--insecure-tcp)";
  return flags.tls_client_ca.empty() ? "TLS"
                                     : "TLS, client certificates required";
}

absl::StatusOr<Grpc> StartGrpc(const DaemonFlags& flags,
                               ExecutorService* service,
                               const PeerPolicy* policy, DaemonStats* stats) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  std::vector<std::string> unix_paths;
  for (const std::string& listen : flags.listen) {
    if (std::string path = UnixPath(listen); !path.empty()) {
      unix_paths.push_back(path);
      continue;
    }
    AOTI_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                          TcpCredentials(flags));
    builder.AddListeningPort(*GrpcAddress(listen), credentials);
  }
  Grpc grpc;
  AOTI_ASSIGN_OR_RETURN(grpc.unix,
                        UnixGrpcListener::Bind(unix_paths, policy, stats));
  builder.RegisterService(service);
  grpc.server = builder.BuildAndStart();
  if (grpc.server == nullptr) {
    return absl::UnavailableError(
        "cannot serve on the tcp: --listen addresses (in use? with TLS: do "
        "--tls-cert and --tls-key belong together?)");
  }
  grpc.unix->Serve(grpc.server.get());
  return grpc;
}

WorkerOptions MakeWorkerOptions(const DaemonFlags& flags, DaemonStats* stats) {
  WorkerOptions options;
  // The daemon's own binary, resolved now: an upgrade that replaces the file
  // on disk must not change what later workers run.
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  options.binary = length > 0 ? std::string(self, length) : "/proc/self/exe";
  options.libraries = flags.load_libraries;
  options.log_level = flags.log_level;
  options.log_format = flags.log_format;
  options.threads = static_cast<int>(flags.worker_threads);
  options.memory_limit_mb = flags.worker_memory_limit_mb;
  options.stats = stats;
  return options;
}

ExecutorService::Options MakeServiceOptions(const DaemonFlags& flags) {
  ExecutorService::Options options;
  options.call_timeout = absl::Milliseconds(flags.call_timeout_ms);
  options.quarantine_crashes = static_cast<int>(flags.quarantine_crashes);
  options.quarantine_window = absl::Seconds(flags.quarantine_window_s);
  options.call_lanes = static_cast<size_t>(flags.call_lanes);
  return options;
}

int Run(const DaemonFlags& flags) {
  const sigset_t stop_signals = BlockStopSignals();
  for (const std::string& library : flags.load_libraries) {
    if (absl::Status loaded = LoadOpLibrary(library); !loaded.ok()) {
      spdlog::critical("{}", loaded.ToString());
      return 1;
    }
    spdlog::info("loaded op library {}", library);
  }
  // Declared before everything that counts in it, so it outlives them.
  DaemonStats stats;
  const WorkerOptions worker_options = MakeWorkerOptions(flags, &stats);
  WorkerPool workers(&worker_options, static_cast<size_t>(flags.spare_workers));
  const PeerPolicy policy(
      std::vector<uid_t>(flags.allow_uids.begin(), flags.allow_uids.end()),
      std::vector<gid_t>(flags.allow_gids.begin(), flags.allow_gids.end()),
      geteuid());
  SessionRegistry sessions(&workers);
  if (absl::Status started =
          sessions.Start(flags.attach_socket, &policy, &stats);
      !started.ok()) {
    spdlog::critical("attach socket: {}", started.ToString());
    return 1;
  }
  // Recorded in only when the metrics are served.
  CallLatencies latencies;
  ExecutorService::Options service_options = MakeServiceOptions(flags);
  if (!flags.metrics_listen.empty()) service_options.latencies = &latencies;
  ExecutorService service(&sessions, &stats, service_options);
  // Before gRPC: a daemon that answers its health check serves its metrics.
  std::unique_ptr<MetricsServer> metrics;
  if (!flags.metrics_listen.empty()) {
    auto served = MetricsServer::Start(
        flags.metrics_listen,
        std::make_shared<DaemonCollector>(
            [&service, &stats] {
              DaemonSnapshot snapshot = service.Snapshot();
              snapshot.peers_refused_grpc =
                  DaemonStats::Read(stats.peers_refused_grpc);
              snapshot.peers_refused_attach =
                  DaemonStats::Read(stats.peers_refused_attach);
              return snapshot;
            },
            &latencies));
    if (!served.ok()) {
      spdlog::critical("{}", served.status().ToString());
      return 1;
    }
    metrics = *std::move(served);
    spdlog::info("serving metrics on http://{}/metrics (port {})",
                 flags.metrics_listen, metrics->port());
  }
  absl::StatusOr<Grpc> grpc = StartGrpc(flags, &service, &policy, &stats);
  if (!grpc.ok()) {
    spdlog::critical("{}", grpc.status().ToString());
    return 1;
  }
  grpc::Server* const server = grpc->server.get();
  for (const std::string& listen : flags.listen) {
    spdlog::info("serving aoti.executor.v1 on {}{}", listen,
                 UnixPath(listen).empty()
                     ? absl::StrCat(" (", TcpSecurity(flags), ")")
                     : std::string());
  }
  // Under systemd, READY=1 also waits for the spare workers, so that the
  // first clients get one at once; elsewhere nothing waits.
  const SystemdNotifier systemd;
  if (systemd.enabled() &&
      !workers.WaitForSpares(absl::Now() + worker_options.start_timeout)) {
    spdlog::error(
        "the spare workers did not all start; ready anyway (sessions start "
        "their own)");
  }
  systemd.Ready();
  LivenessProbe liveness(server->InProcessChannel(grpc::ChannelArguments()));
  SystemdWatchdog watchdog(&systemd, [&liveness](absl::Duration timeout) {
    return liveness.Check(timeout);
  });
  spdlog::info("attach socket {}; aoti-executord {} ready", flags.attach_socket,
               kDaemonVersion);

  const int signal_number = WaitForStopSignal(stop_signals);
  spdlog::info("signal {}: draining in-flight calls (up to {} ms)",
               signal_number, flags.drain_timeout_ms);
  const absl::Time drain_deadline =
      absl::Now() + absl::Milliseconds(flags.drain_timeout_ms);
  systemd.Stopping();
  watchdog.Stop();
  // A draining daemon starts no worker (not even the spare it would keep).
  workers.StopStarting();
  grpc->unix->StopAccepting();
  // The daemon's own RPCs first: gRPC's graceful shutdown would also wait
  // for each idle client to acknowledge its GOAWAY, which takes an idle
  // gRPC client up to 5 s (server/service/rpc_drain.h). Past a short grace
  // for the last answer to go out, gRPC cuts the connections left.
  if (!service.Drain(drain_deadline)) {
    spdlog::warn("RPCs still running at the drain deadline are cancelled");
  }
  server->Shutdown(absl::ToChronoTime(
      std::min(drain_deadline, service.last_answered() + kLastAnswersGrace)));
  server->Wait();
  if (const int64_t cut = sessions.DrainLanes(drain_deadline); cut > 0) {
    spdlog::warn("{} call lane calls still running at the drain deadline", cut);
  }
  sessions.Stop();
  grpc->unix->Stop();  // and removes the socket files
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace aoti_executor

int main(int argc, char** argv) {
  auto flags = aoti_executor::ParseDaemonFlags(argc, argv);
  if (!flags.ok()) {
    std::fprintf(stderr, "aoti-executord: %s\n",
                 std::string(flags.status().message()).c_str());
    return 2;
  }
  if (flags->help) {
    std::fputs(aoti_executor::DaemonUsage().c_str(), stdout);
    return 0;
  }
  if (flags->helpfull) {
    std::fputs(aoti_executor::DaemonHelpFull().c_str(), stdout);
    return 0;
  }
  if (flags->version) {
    std::printf("aoti-executord %s\n", aoti_executor::kDaemonVersion);
    return 0;
  }
  const auto process = flags->worker_fd >= 0
                           ? aoti_executor::LogProcess::kWorker
                           : aoti_executor::LogProcess::kDaemon;
  if (absl::Status logging = aoti_executor::SetUpLogging(
          flags->log_format, flags->log_level, process);
      !logging.ok()) {
    std::fprintf(stderr, "aoti-executord: %s\n",
                 std::string(logging.message()).c_str());
    return 2;
  }
  if (flags->worker_fd >= 0) {
    return flags->worker_zygote ? aoti_executor::RunWorkerZygote(*flags)
                                : aoti_executor::RunWorker(*flags);
  }
  if (!flags->status.empty()) {
    auto text = aoti_executor::FetchStatusText(flags->status);
    std::printf("%s", text.ok() ? text->c_str()
                                : (text.status().ToString() + "\n").c_str());
    return text.ok() ? 0 : 1;
  }
  if (!flags->clear_quarantine.empty()) {
    auto cleared = aoti_executor::ClearQuarantine(flags->clear_quarantine);
    if (!cleared.ok()) {
      std::printf("%s\n", cleared.status().ToString().c_str());
      return 1;
    }
    std::printf("cleared the quarantine of %d nodes\n", *cleared);
    return 0;
  }
  if (!flags->health_check.empty()) {
    absl::Status health =
        aoti_executor::CheckHealth(flags->health_check, absl::Seconds(5));
    std::printf("%s\n", health.ok() ? "SERVING" : health.ToString().c_str());
    return health.ok() ? 0 : 1;
  }
  return aoti_executor::Run(*flags);
}
