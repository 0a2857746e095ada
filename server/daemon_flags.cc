#include "server/daemon_flags.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace aoti_executor {
namespace {

bool IsValueFlag(const std::string& name) {
  return name == "listen" || name == "attach-socket" ||
         name == "load-library" || name == "log-level" ||
         name == "drain-timeout-ms" || name == "health-check";
}

// Flags that take a value, and where it goes.
absl::Status SetFlag(const std::string& name, const std::string& value,
                     DaemonFlags* flags) {
  if (name == "listen") {
    if (!GrpcAddress(value).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen=", value, ": expected unix:/path or tcp:HOST:PORT"));
    }
    flags->listen.push_back(value);
  } else if (name == "health-check") {
    if (!GrpcAddress(value).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--health-check=", value, ": expected unix:/path or tcp:HOST:PORT"));
    }
    flags->health_check = value;
  } else if (name == "attach-socket") {
    flags->attach_socket = value;
  } else if (name == "load-library") {
    flags->load_libraries.push_back(value);
  } else if (name == "log-level") {
    flags->log_level = value;
  } else if (name == "drain-timeout-ms") {
    if (!absl::SimpleAtoi(value, &flags->drain_timeout_ms) ||
        flags->drain_timeout_ms < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--drain-timeout-ms=", value, ": expected milliseconds"));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> GrpcAddress(const std::string& listen) {
  absl::string_view rest = listen;
  if (absl::ConsumePrefix(&rest, "unix:")) {
    if (absl::StartsWith(rest, "//")) rest.remove_prefix(2);
    if (!absl::StartsWith(rest, "/")) {
      return absl::InvalidArgumentError("unix socket paths must be absolute");
    }
    return absl::StrCat("unix:", rest);
  }
  if (absl::ConsumePrefix(&rest, "tcp:") && absl::StrContains(rest, ":")) {
    return std::string(rest);
  }
  return absl::InvalidArgumentError(absl::StrCat("bad address '", listen, "'"));
}

std::string UnixPath(const std::string& listen) {
  auto address = GrpcAddress(listen);
  if (!address.ok() || !absl::StartsWith(*address, "unix:")) return "";
  return address->substr(5);
}

absl::StatusOr<DaemonFlags> ParseDaemonFlags(int argc, char** argv) {
  DaemonFlags flags;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", argv[i], "'; see --help"));
    }
    if (arg == "help") {
      flags.help = true;
      continue;
    }
    if (arg == "version") {
      flags.version = true;
      continue;
    }
    const size_t equals = arg.find('=');
    std::string name(arg.substr(0, equals));
    if (!IsValueFlag(name)) {
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
    if (absl::Status set = SetFlag(name, value, &flags); !set.ok()) return set;
  }
  if (flags.listen.empty()) flags.listen.push_back(kDefaultListen);
  if (flags.attach_socket.empty()) {
    for (const std::string& listen : flags.listen) {
      if (std::string path = UnixPath(listen); !path.empty()) {
        flags.attach_socket = path + ".attach";
        break;
      }
    }
    if (flags.attach_socket.empty()) {
      flags.attach_socket = "/tmp/aoti-executor/executor.sock.attach";
    }
  }
  return flags;
}

std::string DaemonUsage() {
  return absl::StrCat(
      "aoti-executord: runs AOTInductor extern-kernel calls for client "
      "processes.\n\n"
      "Usage: aoti-executord [flags]\n\n"
      "  --listen=ADDR          gRPC address, repeatable: unix:/path or "
      "tcp:HOST:PORT\n"
      "                         (default ",
      kDefaultListen,
      ")\n"
      "  --attach-socket=PATH   the shared-memory attach socket (default: the "
      "first\n"
      "                         unix --listen path + \".attach\")\n"
      "  --load-library=PATH    custom-op library to load, repeatable (like\n"
      "                         torch.ops.load_library)\n"
      "  --log-level=LEVEL      trace, debug, info, warn, error, critical, off "
      "(default info)\n"
      "  --drain-timeout-ms=N   on SIGTERM, how long in-flight calls may "
      "finish "
      "(default 30000)\n"
      "  --health-check=ADDR    ask the daemon at ADDR whether it serves; exit "
      "0 "
      "if so, 1\n"
      "                         if not (for probes)\n"
      "  --version              print the version and exit\n"
      "  --help                 print this and exit\n");
}

}  // namespace aoti_executor
