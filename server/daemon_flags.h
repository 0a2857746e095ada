// aoti-executord's command line: abseil flags (server/daemon_flags.cc), read
// into one DaemonFlags value.
//
// absl::ParseCommandLine is not used: it exits the process on a bad flag
// instead of returning an error, lets the last of repeated --listen values
// win, and knows no hyphenated names. ParseDaemonFlags walks argv (and
// --flagfile files) itself and sets each flag through absl's registry, so the
// values are parsed, checked and documented by the flag definitions.
#ifndef AOTI_EXECUTOR_SERVER_DAEMON_FLAGS_H_
#define AOTI_EXECUTOR_SERVER_DAEMON_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/common/endpoint.h"

namespace aoti_executor {

struct DaemonFlags {
  // gRPC addresses as given: "unix:/path" or "tcp:HOST:PORT".
  std::vector<std::string> listen;
  std::string attach_socket;  // derived from the first unix --listen if empty
  // The peer policy of the Unix sockets (server/service/peer_policy.h); both
  // empty: the default.
  std::vector<uint32_t> allow_uids;
  std::vector<uint32_t> allow_gids;
  // TLS of the tcp: listeners (PEM file paths; empty: none).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // tcp: listeners without TLS.
  bool insecure_tcp = false;
  std::vector<std::string> load_libraries;
  std::string log_level = "info";
  int64_t drain_timeout_ms = 30000;
  int64_t call_timeout_ms = 60000;
  int64_t worker_threads = 2;
  int64_t worker_memory_limit_mb = 0;  // 0: none
  int64_t spare_workers = 4;
  int64_t quarantine_crashes = 3;
  int64_t quarantine_window_s = 300;
  // Call lanes (shared-memory calls past the daemon) per session; 0: none.
  int64_t call_lanes = 4;
  std::string metrics_listen;  // --metrics-listen=HOST:PORT, empty: no metrics
  std::string log_format = "text";  // --log-format=text|json

  // One-shot commands against a running daemon at ADDR, instead of serving.
  std::string health_check;
  std::string status;
  std::string clear_quarantine;
  bool help = false;
  bool helpfull = false;
  bool version = false;

  // Internal: set when the daemon starts this binary as a worker process.
  int64_t worker_fd = -1;
  uint64_t region_id_base = 0;
  bool worker_zygote = false;
};

// Parses argv: --flag=value and --flag value; --name and --name=true|false
// for --help, --helpfull, --version and --insecure-tcp; --listen,
// --load-library, --allow-uid and --allow-gid repeat (and take comma lists),
// their values kept in order; any other flag given twice keeps its last
// value. --flagfile=PATH[,PATH] reads flags from files,
// one per line ("--flag=value"; blank lines and lines starting with # are
// skipped), where it stands among the others. InvalidArgument naming the
// flag (and the file and line) for anything unknown or malformed. Fills
// defaults. When the flags serve (no one-shot command, not a worker):
// InvalidArgument for a tcp: --listen with neither --tls-cert/--tls-key nor
// --insecure-tcp, and for TLS flags that lack each other or a tcp: listener.
// May be called any number of times: it first sets absl's flag
// globals back to their defaults.
absl::StatusOr<DaemonFlags> ParseDaemonFlags(int argc, char** argv);

// The --help text.
std::string DaemonUsage();

// The --helpfull text: every flag ParseDaemonFlags takes, generated from the
// flag definitions, with its help and default.
std::string DaemonHelpFull();

// The gRPC address of a --listen value (ParseEndpoint's forms): "unix:/p"
// for a Unix socket, "H:P" for TCP; InvalidArgument naming what is wrong.
absl::StatusOr<std::string> GrpcAddress(const std::string& listen);

// The socket path of a "unix:" address ("" for tcp).
std::string UnixPath(const std::string& listen);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_DAEMON_FLAGS_H_
