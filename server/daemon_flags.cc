#include "server/daemon_flags.h"

#include <functional>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/common/protocol.h"
#include "server/common/status_macros.h"

namespace aoti_executor {
namespace {

using Setter =
    std::function<bool(const std::string& value, DaemonFlags* flags)>;

Setter Address(std::string DaemonFlags::*field) {
  return [field](const std::string& value, DaemonFlags* flags) {
    if (!GrpcAddress(value).ok()) return false;
    flags->*field = value;
    return true;
  };
}

Setter Text(std::string DaemonFlags::*field) {
  return [field](const std::string& value, DaemonFlags* flags) {
    flags->*field = value;
    return true;
  };
}

Setter Number(int64_t DaemonFlags::*field, int64_t min) {
  return [field, min](const std::string& value, DaemonFlags* flags) {
    return absl::SimpleAtoi(value, &(flags->*field)) && flags->*field >= min;
  };
}

// Every flag that takes a value, and what a valid value is.
const std::map<std::string, std::pair<Setter, const char*>>& ValueFlags() {
  static const auto* flags =
      new std::map<std::string, std::pair<Setter, const char*>>{
          {"listen",
           {[](const std::string& value, DaemonFlags* f) {
              if (!GrpcAddress(value).ok()) return false;
              f->listen.push_back(value);
              return true;
            },
            "unix:/abs/path or tcp:HOST:PORT"}},
          {"load-library",
           {[](const std::string& value, DaemonFlags* f) {
              f->load_libraries.push_back(value);
              return !value.empty();
            },
            "a path"}},
          {"attach-socket", {Text(&DaemonFlags::attach_socket), "a path"}},
          {"log-level", {Text(&DaemonFlags::log_level), "a level"}},
          {"drain-timeout-ms",
           {Number(&DaemonFlags::drain_timeout_ms, 0), "milliseconds"}},
          {"call-timeout-ms",
           {Number(&DaemonFlags::call_timeout_ms, 1), "milliseconds"}},
          {"worker-threads",
           {Number(&DaemonFlags::worker_threads, 1), "a count >= 1"}},
          {"worker-memory-limit-mb",
           {Number(&DaemonFlags::worker_memory_limit_mb, 0),
            "MiB, 0 for none"}},
          {"quarantine-crashes",
           {Number(&DaemonFlags::quarantine_crashes, 1), "a count >= 1"}},
          {"quarantine-window-s",
           {Number(&DaemonFlags::quarantine_window_s, 1), "seconds"}},
          {"call-lanes", {Number(&DaemonFlags::call_lanes, 0), "a count >= 0"}},
          {"health-check",
           {Address(&DaemonFlags::health_check),
            "unix:/abs/path or tcp:HOST:PORT"}},
          {"status",
           {Address(&DaemonFlags::status), "unix:/abs/path or tcp:HOST:PORT"}},
          {"clear-quarantine",
           {Address(&DaemonFlags::clear_quarantine),
            "unix:/abs/path or tcp:HOST:PORT"}},
          {"worker-fd", {Number(&DaemonFlags::worker_fd, 0), "an fd"}},
          {"region-id-base",
           {[](const std::string& value, DaemonFlags* f) {
              return absl::SimpleAtoi(value, &f->region_id_base);
            },
            "an id"}},
      };
  return *flags;
}

}  // namespace

absl::StatusOr<std::string> GrpcAddress(const std::string& listen) {
  AOTI_ASSIGN_OR_RETURN(Endpoint endpoint, ParseEndpoint(listen));
  return endpoint.grpc_target();
}

std::string UnixPath(const std::string& listen) {
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(listen);
  if (!endpoint.ok() || endpoint->kind != Endpoint::Kind::kUnix) return "";
  return endpoint->address;
}

absl::StatusOr<DaemonFlags> ParseDaemonFlags(int argc, char** argv) {
  DaemonFlags flags;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", argv[i], "'; see --help"));
    }
    if (arg == "help" || arg == "version") {
      (arg == "help" ? flags.help : flags.version) = true;
      continue;
    }
    const size_t equals = arg.find('=');
    const std::string name(arg.substr(0, equals));
    auto flag = ValueFlags().find(name);
    if (flag == ValueFlags().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, "; see --help"));
    }
    std::string value;
    if (equals != absl::string_view::npos) {
      value = std::string(arg.substr(equals + 1));
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " needs a value"));
    }
    const auto& [set, expected] = flag->second;
    if (!set(value, &flags)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, "=", value, ": expected ", expected));
    }
  }
  if (flags.listen.empty()) flags.listen.push_back(kDefaultEndpoint);
  if (flags.attach_socket.empty()) {
    // Beside the first Unix socket; beside the default one if all are TCP.
    std::string path;
    for (const std::string& listen : flags.listen) {
      path = UnixPath(listen);
      if (!path.empty()) break;
    }
    if (path.empty()) path = UnixPath(kDefaultEndpoint);
    flags.attach_socket = absl::StrCat(path, kAttachSocketSuffix);
  }
  return flags;
}

std::string DaemonUsage() {
  return absl::StrCat(
      "aoti-executord: runs AOTInductor extern-kernel calls for client "
      "processes,\n"
      "each client's ops in a worker process of its own.\n\n"
      "Usage: aoti-executord [flags]\n\n"
      "  --listen=ADDR             gRPC address, repeatable: unix:/path or "
      "tcp:HOST:PORT\n"
      "                            (default ",
      kDefaultEndpoint,
      ")\n"
      "  --attach-socket=PATH      the shared-memory attach socket (default: "
      "the\n"
      "                            first unix --listen path + \".attach\")\n"
      "  --load-library=PATH       custom-op library, repeatable (like\n"
      "                            torch.ops.load_library)\n"
      "  --log-level=LEVEL         trace, debug, info, warn, error, critical, "
      "off\n"
      "                            (default info)\n"
      "  --call-timeout-ms=N       longest a call may run; past it its worker "
      "is\n"
      "                            killed (default 60000; a client's shorter\n"
      "                            deadline wins)\n"
      "  --worker-threads=N        calls one worker runs at once (default 2)\n"
      "  --worker-memory-limit-mb=N  address-space limit of each worker; an "
      "op\n"
      "                            past it fails with an allocation error (0: "
      "none)\n"
      "  --quarantine-crashes=N    crashes or hangs of one node that "
      "quarantine it\n"
      "                            (default 3) ...\n"
      "  --quarantine-window-s=N   ... within this window (default 300)\n"
      "  --call-lanes=N            shared-memory call lanes a session may "
      "open, one\n"
      "                            per call at once, straight to its worker "
      "(default\n"
      "                            4; 0: every call by RPC)\n"
      "  --drain-timeout-ms=N      on SIGTERM, how long in-flight calls may "
      "finish\n"
      "                            (default 30000)\n"
      "  --health-check=ADDR       ask the daemon at ADDR whether it serves; "
      "exit 0\n"
      "                            if so, 1 if not (for probes)\n"
      "  --status=ADDR             print the status of the daemon at ADDR\n"
      "  --clear-quarantine=ADDR   let quarantined nodes of the daemon at ADDR "
      "run\n"
      "  --version                 print the version and exit\n"
      "  --help                    print this and exit\n");
}

}  // namespace aoti_executor
