#include "server/daemon_flags.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/common/protocol.h"
#include "server/common/status_macros.h"
#include "server/flag_types.h"

// Flags are defined in the global namespace, as absl asks; their names are
// identifiers, and ParseDaemonFlags reads "--load-library" as load_library.
using aoti_executor::AddressFlag;
using aoti_executor::AddressListFlag;
using aoti_executor::AtLeastFlag;
using aoti_executor::GidListFlag;
using aoti_executor::HostPortFlag;
using aoti_executor::LogFormatFlag;
using aoti_executor::LogLevelFlag;
using aoti_executor::PathListFlag;
using aoti_executor::UidListFlag;

ABSL_FLAG(AddressListFlag, listen, {},
          "gRPC address, repeatable (or a comma list): unix:/path or "
          "tcp:HOST:PORT (none: unix:/tmp/aoti-executor/executor.sock)");
ABSL_FLAG(std::string, attach_socket, "",
          "the shared-memory attach socket (empty: the first unix --listen "
          "path + \".attach\")");
ABSL_FLAG(UidListFlag, allow_uid, {},
          "a user (number or name) whose processes may connect to the Unix "
          "sockets, repeatable (or a comma list); with --allow-gid, replaces "
          "the default (the daemon's uid and the socket's group); the "
          "daemon's own uid is always allowed");
ABSL_FLAG(GidListFlag, allow_gid, {},
          "a group (number or name) whose members (primary or supplementary) "
          "may connect to the Unix sockets, repeatable (or a comma list)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of the tcp: listeners (TLS); with --tls-key");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates: tcp: clients must present a certificate "
          "signed by one (mutual TLS); needed for admin calls over TCP");
ABSL_FLAG(bool, insecure_tcp, false,
          "serve tcp: listeners as plain TCP, without TLS: anyone who "
          "reaches the port can call (admin calls stay refused there)");
ABSL_FLAG(PathListFlag, load_library, {},
          "custom-op library, repeatable (or a comma list), like "
          "torch.ops.load_library");
ABSL_FLAG(LogLevelFlag, log_level, {"info"},
          "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(LogFormatFlag, log_format, {"text"},
          "text (spdlog's lines) or json (one object per line: time, level, "
          "message, and session, node, op, worker_pid where they apply); "
          "both on stderr");
ABSL_FLAG(HostPortFlag, metrics_listen, {},
          "HOST:PORT to serve Prometheus metrics on (empty: none)");
ABSL_FLAG(AtLeastFlag<0>, drain_timeout_ms, {30000},
          "on SIGTERM, how long in-flight calls may finish");
ABSL_FLAG(AtLeastFlag<1>, call_timeout_ms, {60000},
          "longest a call may run; past it its worker is killed (a client's "
          "shorter deadline wins)");
ABSL_FLAG(AtLeastFlag<1>, worker_threads, {2}, "calls one worker runs at once");
ABSL_FLAG(AtLeastFlag<0>, worker_memory_limit_mb, {0},
          "address-space limit of each worker in MiB; an op past it fails "
          "with an allocation error (0: none)");
ABSL_FLAG(AtLeastFlag<0>, spare_workers, {4},
          "workers kept started ahead of sessions, for creates that come "
          "in quick succession (0: each session starts its own)");
ABSL_FLAG(AtLeastFlag<1>, quarantine_crashes, {3},
          "crashes or hangs of one node that quarantine it ...");
ABSL_FLAG(AtLeastFlag<1>, quarantine_window_s, {300},
          "... within this many seconds");
ABSL_FLAG(AtLeastFlag<0>, call_lanes, {4},
          "shared-memory call lanes a session may open, one per call at "
          "once, straight to its worker (0: every call by RPC)");
ABSL_FLAG(AddressFlag, health_check, {},
          "ask the daemon at this address whether it serves; exit 0 if so, 1 "
          "if not (for probes)");
ABSL_FLAG(AddressFlag, status, {},
          "print the status of the daemon at this address");
ABSL_FLAG(AddressFlag, clear_quarantine, {},
          "let quarantined nodes of the daemon at this address run");
// Its default is unparsed and parsed again by absl; "not given" (-1 in
// DaemonFlags) is in the walk.
ABSL_FLAG(AtLeastFlag<0>, worker_fd, {0},
          "internal: run as a worker on this fd (set by the daemon)");
ABSL_FLAG(uint64_t, region_id_base, 0,
          "internal: the worker's first output region id (set by the daemon)");
ABSL_FLAG(bool, worker_zygote, false,
          "internal: with --worker-fd, fork workers on request (set by the "
          "daemon)");

namespace aoti_executor {
namespace {

// Flag files may name flag files; a cycle must end.
constexpr int kMaxFlagFileDepth = 8;

// Every flag ParseDaemonFlags sets, in --helpfull's order.
const std::vector<const absl::CommandLineFlag*>& OwnFlags() {
  static const auto* flags = new std::vector<const absl::CommandLineFlag*>{
      &absl::GetFlagReflectionHandle(FLAGS_listen),
      &absl::GetFlagReflectionHandle(FLAGS_attach_socket),
      &absl::GetFlagReflectionHandle(FLAGS_allow_uid),
      &absl::GetFlagReflectionHandle(FLAGS_allow_gid),
      &absl::GetFlagReflectionHandle(FLAGS_tls_cert),
      &absl::GetFlagReflectionHandle(FLAGS_tls_key),
      &absl::GetFlagReflectionHandle(FLAGS_tls_client_ca),
      &absl::GetFlagReflectionHandle(FLAGS_insecure_tcp),
      &absl::GetFlagReflectionHandle(FLAGS_load_library),
      &absl::GetFlagReflectionHandle(FLAGS_log_level),
      &absl::GetFlagReflectionHandle(FLAGS_log_format),
      &absl::GetFlagReflectionHandle(FLAGS_metrics_listen),
      &absl::GetFlagReflectionHandle(FLAGS_call_timeout_ms),
      &absl::GetFlagReflectionHandle(FLAGS_worker_threads),
      &absl::GetFlagReflectionHandle(FLAGS_worker_memory_limit_mb),
      &absl::GetFlagReflectionHandle(FLAGS_spare_workers),
      &absl::GetFlagReflectionHandle(FLAGS_quarantine_crashes),
      &absl::GetFlagReflectionHandle(FLAGS_quarantine_window_s),
      &absl::GetFlagReflectionHandle(FLAGS_call_lanes),
      &absl::GetFlagReflectionHandle(FLAGS_drain_timeout_ms),
      &absl::GetFlagReflectionHandle(FLAGS_health_check),
      &absl::GetFlagReflectionHandle(FLAGS_status),
      &absl::GetFlagReflectionHandle(FLAGS_clear_quarantine),
      &absl::GetFlagReflectionHandle(FLAGS_worker_fd),
      &absl::GetFlagReflectionHandle(FLAGS_region_id_base),
      &absl::GetFlagReflectionHandle(FLAGS_worker_zygote),
  };
  return *flags;
}

// Sets `flag` back to the value it had when this was made.
template <typename T>
std::function<void()> Resetter(absl::Flag<T>& flag) {
  return
      [&flag, initial = absl::GetFlag(flag)] { absl::SetFlag(&flag, initial); };
}

// Sets every flag back to its default. Not absl::FlagSaver: its restore
// writes a line per flag to stderr, which a JSON log must not hold.
void ResetFlags() {
  // Made at the first parse, before any flag is set: the defaults.
  static const auto* resetters = new std::vector<std::function<void()>>{
      Resetter(FLAGS_listen),
      Resetter(FLAGS_attach_socket),
      Resetter(FLAGS_allow_uid),
      Resetter(FLAGS_allow_gid),
      Resetter(FLAGS_tls_cert),
      Resetter(FLAGS_tls_key),
      Resetter(FLAGS_tls_client_ca),
      Resetter(FLAGS_insecure_tcp),
      Resetter(FLAGS_load_library),
      Resetter(FLAGS_log_level),
      Resetter(FLAGS_log_format),
      Resetter(FLAGS_metrics_listen),
      Resetter(FLAGS_call_timeout_ms),
      Resetter(FLAGS_worker_threads),
      Resetter(FLAGS_worker_memory_limit_mb),
      Resetter(FLAGS_spare_workers),
      Resetter(FLAGS_quarantine_crashes),
      Resetter(FLAGS_quarantine_window_s),
      Resetter(FLAGS_call_lanes),
      Resetter(FLAGS_drain_timeout_ms),
      Resetter(FLAGS_health_check),
      Resetter(FLAGS_status),
      Resetter(FLAGS_clear_quarantine),
      Resetter(FLAGS_worker_fd),
      Resetter(FLAGS_region_id_base),
      Resetter(FLAGS_worker_zygote),
  };
  for (const std::function<void()>& reset : *resetters) reset();
}

// absl's "Illegal value 'V' specified for flag 'name'; REASON" as "REASON":
// the caller names the flag as it was given.
std::string Reason(const std::string& error) {
  const size_t separator = error.find("'; ");
  if (absl::StartsWith(error, "Illegal value") &&
      separator != std::string::npos) {
    return error.substr(separator + 3);
  }
  return absl::StartsWith(error, "Illegal value") ? "not a valid value" : error;
}

// Flags whose occurrences add up instead of replacing each other.
bool Repeats(absl::string_view name) {
  return name == "listen" || name == "load_library" || name == "allow_uid" ||
         name == "allow_gid";
}

// Flags that may stand alone, meaning true ("--insecure-tcp").
bool IsSwitch(absl::string_view name) { return name == "insecure_tcp"; }

// One argument and where it came from ("" for argv, "FILE:LINE" for a flag
// file), for messages.
struct Arg {
  std::string text;
  std::string origin;
};

// What a walk over the arguments collects besides the flags' own values.
struct Walk {
  bool help = false;
  bool helpfull = false;
  bool version = false;
  // The flags given (absl names), for the one whose absence means something.
  std::set<std::string> given;
  // Every value of each repeating flag, in order.
  std::map<std::string, std::vector<std::string>> repeated;
};

absl::Status Refuse(const Arg& arg, absl::string_view message) {
  return absl::InvalidArgumentError(
      arg.origin.empty() ? std::string(message)
                         : absl::StrCat(arg.origin, ": ", message));
}

// The flag named `name` ("load-library" or "load_library") if it is ours.
absl::CommandLineFlag* FindOwnFlag(absl::string_view name) {
  const std::string id = absl::StrReplaceAll(name, {{"-", "_"}});
  for (const absl::CommandLineFlag* flag : OwnFlags()) {
    if (flag->Name() == id) return absl::FindCommandLineFlag(id);
  }
  return nullptr;
}

absl::Status ApplyArgs(const std::vector<Arg>& args, int depth, Walk* walk);

absl::Status ApplyFlagFile(const Arg& arg, const std::string& path, int depth,
                           Walk* walk) {
  if (depth > kMaxFlagFileDepth) {
    return Refuse(arg,
                  absl::StrCat("--flagfile=", path, ": nested deeper than ",
                               kMaxFlagFileDepth, " flag files"));
  }
  std::ifstream file(path);
  if (!file) {
    return Refuse(arg, absl::StrCat("--flagfile=", path, ": cannot read it: ",
                                    std::strerror(errno)));
  }
  std::vector<Arg> args;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || absl::StartsWith(text, "#")) continue;
    args.push_back({std::string(text), absl::StrCat(path, ":", number)});
  }
  return ApplyArgs(args, depth, walk);
}

absl::Status ApplyArgs(const std::vector<Arg>& args, int depth, Walk* walk) {
  for (size_t i = 0; i < args.size(); ++i) {
    const Arg& arg = args[i];
    absl::string_view text = arg.text;
    if (!absl::ConsumePrefix(&text, "--")) {
      return Refuse(arg, absl::StrCat("unexpected argument '", arg.text,
                                      "'; see --help"));
    }
    const size_t equals = text.find('=');
    const std::string name(text.substr(0, equals));
    const bool has_value = equals != absl::string_view::npos;
    const std::string value =
        has_value ? std::string(text.substr(equals + 1)) : "";
    if (name == "help" || name == "helpfull" || name == "version") {
      bool on = true;
      if (has_value && !absl::SimpleAtob(value, &on)) {
        return Refuse(arg, absl::StrCat("--", name, "=", value,
                                        ": expected no value, true or false"));
      }
      (name == "help"       ? walk->help
       : name == "helpfull" ? walk->helpfull
                            : walk->version) = on;
      continue;
    }
    // Unknown before its value: "--typo value" names the typo.
    absl::CommandLineFlag* flag = nullptr;
    if (name != "flagfile") {
      flag = FindOwnFlag(name);
      if (flag == nullptr) {
        return Refuse(arg,
                      absl::StrCat("unknown flag --", name, "; see --help"));
      }
    }
    std::string separate;
    if (!has_value && flag != nullptr && IsSwitch(flag->Name())) {
      separate = "true";
    } else if (!has_value) {
      if (i + 1 == args.size()) {
        return Refuse(arg, absl::StrCat("--", name, " needs a value"));
      }
      separate = args[++i].text;
    }
    const std::string& given = has_value ? value : separate;
    // A flag left out keeps its default; an empty value is a mistake (an
    // unset variable in a script, a blank after = in a flag file).
    if (given.empty()) {
      return Refuse(arg, absl::StrCat("--", name, "=: needs a value"));
    }
    if (name == "flagfile") {
      for (absl::string_view path : absl::StrSplit(given, ',')) {
        AOTI_RETURN_IF_ERROR(
            ApplyFlagFile(arg, std::string(path), depth + 1, walk));
      }
      continue;
    }
    std::string error;
    if (!flag->ParseFrom(given, &error)) {
      return Refuse(arg,
                    absl::StrCat("--", name, "=", given, ": ", Reason(error)));
    }
    walk->given.insert(std::string(flag->Name()));
    if (Repeats(flag->Name())) {
      walk->repeated[std::string(flag->Name())].push_back(given);
    }
  }
  return absl::OkStatus();
}

// Sets each repeating flag to all of its values at once.
absl::Status ApplyRepeated(const Walk& walk) {
  for (const auto& [name, values] : walk.repeated) {
    std::string error;
    if (!absl::FindCommandLineFlag(name)->ParseFrom(absl::StrJoin(values, ","),
                                                    &error)) {
      return absl::InternalError(absl::StrCat("--", name, ": ", error));
    }
  }
  return absl::OkStatus();
}

// The flags' current values.
DaemonFlags ReadFlags(const Walk& walk) {
  DaemonFlags flags;
  flags.listen = absl::GetFlag(FLAGS_listen).values;
  flags.attach_socket = absl::GetFlag(FLAGS_attach_socket);
  flags.load_libraries = absl::GetFlag(FLAGS_load_library).values;
  for (uint32_t uid : absl::GetFlag(FLAGS_allow_uid).values) {
    flags.allow_uids.push_back(uid);
  }
  for (uint32_t gid : absl::GetFlag(FLAGS_allow_gid).values) {
    flags.allow_gids.push_back(gid);
  }
  flags.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  flags.tls_key = absl::GetFlag(FLAGS_tls_key);
  flags.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  flags.insecure_tcp = absl::GetFlag(FLAGS_insecure_tcp);
  flags.log_level = absl::GetFlag(FLAGS_log_level).value;
  flags.log_format = absl::GetFlag(FLAGS_log_format).value;
  flags.metrics_listen = absl::GetFlag(FLAGS_metrics_listen).value;
  flags.drain_timeout_ms = absl::GetFlag(FLAGS_drain_timeout_ms).value;
  flags.call_timeout_ms = absl::GetFlag(FLAGS_call_timeout_ms).value;
  flags.worker_threads = absl::GetFlag(FLAGS_worker_threads).value;
  flags.worker_memory_limit_mb =
      absl::GetFlag(FLAGS_worker_memory_limit_mb).value;
  flags.spare_workers = absl::GetFlag(FLAGS_spare_workers).value;
  flags.quarantine_crashes = absl::GetFlag(FLAGS_quarantine_crashes).value;
  flags.quarantine_window_s = absl::GetFlag(FLAGS_quarantine_window_s).value;
  flags.call_lanes = absl::GetFlag(FLAGS_call_lanes).value;
  flags.health_check = absl::GetFlag(FLAGS_health_check).value;
  flags.status = absl::GetFlag(FLAGS_status).value;
  flags.clear_quarantine = absl::GetFlag(FLAGS_clear_quarantine).value;
  flags.worker_fd =
      walk.given.count("worker_fd") ? absl::GetFlag(FLAGS_worker_fd).value : -1;
  flags.region_id_base = absl::GetFlag(FLAGS_region_id_base);
  flags.worker_zygote = absl::GetFlag(FLAGS_worker_zygote);
  flags.help = walk.help;
  flags.helpfull = walk.helpfull;
  flags.version = walk.version;
  return flags;
}

// Whether `flags` serve (rather than run a one-shot command or a worker).
bool Serves(const DaemonFlags& flags) {
  return flags.worker_fd < 0 && flags.health_check.empty() &&
         flags.status.empty() && flags.clear_quarantine.empty() &&
         !flags.help && !flags.helpfull && !flags.version;
}

// TCP listeners need TLS or an explicit --insecure-tcp; TLS flags need a
// TCP listener and each other.
absl::Status CheckTransportFlags(const DaemonFlags& flags) {
  std::string tcp;
  for (const std::string& listen : flags.listen) {
    absl::StatusOr<Endpoint> endpoint = ParseEndpoint(listen);
    if (endpoint.ok() && endpoint->kind == Endpoint::Kind::kTcp) {
      tcp = listen;
      break;
    }
  }
  const bool tls = !flags.tls_cert.empty() || !flags.tls_key.empty() ||
                   !flags.tls_client_ca.empty();
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together (the certificate chain and its "
        "private key)");
  }
  if (!flags.tls_client_ca.empty() && flags.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca needs --tls-cert and --tls-key: client certificates "
        "are checked only on a TLS listener");
  }
  if (tls && flags.insecure_tcp) {
    return absl::InvalidArgumentError(
        "--insecure-tcp and the --tls-* flags exclude each other: TLS, or "
        "plain TCP");
  }
  if (tcp.empty() && (tls || flags.insecure_tcp)) {
    return absl::InvalidArgumentError(
        absl::StrCat(tls ? "--tls-cert/--tls-key/--tls-client-ca apply"
                         : "--insecure-tcp applies",
                     " to --listen=tcp:HOST:PORT, and there is none"));
  }
  if (!tcp.empty() && !tls && !flags.insecure_tcp) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen=", tcp,
        ": a TCP listener needs TLS: pass --tls-cert=CERT.pem and "
        "--tls-key=KEY.pem (and --tls-client-ca=CA.pem to require client "
        "certificates, which admin calls over TCP need), or --insecure-tcp "
        "to serve plain TCP, which anyone who reaches the port can use"));
  }
  return absl::OkStatus();
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
  // The globals are only the parse's scratch: every call starts from the
  // defaults, and the result is the DaemonFlags value.
  ResetFlags();
  std::vector<Arg> args;
  for (int i = 1; i < argc; ++i) args.push_back({argv[i], ""});
  Walk walk;
  AOTI_RETURN_IF_ERROR(ApplyArgs(args, 0, &walk));
  AOTI_RETURN_IF_ERROR(ApplyRepeated(walk));
  DaemonFlags flags = ReadFlags(walk);
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
  if (Serves(flags)) AOTI_RETURN_IF_ERROR(CheckTransportFlags(flags));
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
      "  --allow-uid=UID           a user whose processes may connect to the "
      "Unix\n"
      "                            sockets, repeatable (number or name)\n"
      "  --allow-gid=GID           a group whose members may connect, "
      "repeatable;\n"
      "                            with neither: the daemon's uid and the "
      "socket's\n"
      "                            group (root only if that includes it)\n"
      "  --tls-cert=PEM, --tls-key=PEM  serve tcp: listeners with TLS\n"
      "  --tls-client-ca=PEM       require tcp: clients to present a "
      "certificate\n"
      "                            this CA signed (mutual TLS; admin calls "
      "over TCP\n"
      "                            need it)\n"
      "  --insecure-tcp            serve tcp: listeners as plain TCP instead "
      "(a tcp:\n"
      "                            --listen needs TLS or this)\n"
      "  --load-library=PATH       custom-op library, repeatable (like\n"
      "                            torch.ops.load_library)\n"
      "  --log-level=LEVEL         trace, debug, info, warn, error, critical, "
      "off\n"
      "                            (default info)\n"
      "  --log-format=FORMAT       text or json (one object per line), on "
      "stderr\n"
      "                            (default text)\n"
      "  --metrics-listen=HOST:PORT  serve Prometheus metrics there (default: "
      "none)\n"
      "  --call-timeout-ms=N       longest a call may run; past it its worker "
      "is\n"
      "                            killed (default 60000; a client's shorter\n"
      "                            deadline wins)\n"
      "  --worker-threads=N        calls one worker runs at once (default 2)\n"
      "  --worker-memory-limit-mb=N  address-space limit of each worker; an "
      "op\n"
      "                            past it fails with an allocation error (0: "
      "none)\n"
      "  --spare-workers=N         workers started ahead of sessions, so that "
      "creates\n"
      "                            in quick succession do not wait for one "
      "(default\n"
      "                            4; 0: each session starts its own)\n"
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
      "  --flagfile=PATH           read flags from PATH, one per line "
      "(\"--flag=value\";\n"
      "                            # starts a comment), where it stands among "
      "the\n"
      "                            others (e.g. /etc/aoti-executor/flags)\n"
      "  --version                 print the version and exit\n"
      "  --help                    print this and exit\n"
      "  --helpfull                every flag with its default, and exit\n");
}

std::string DaemonHelpFull() {
  std::string text =
      "aoti-executord: every flag. --flag=value and --flag value both work; "
      "a flag\n"
      "given twice keeps its last value, except --listen, --load-library, "
      "--allow-uid\n"
      "and --allow-gid, whose values add up.\n\n";
  for (const absl::CommandLineFlag* flag : OwnFlags()) {
    absl::StrAppend(
        &text, "  --", absl::StrReplaceAll(flag->Name(), {{"_", "-"}}), " (",
        flag->Help(), "); default: \"", flag->DefaultValue(), "\";\n");
  }
  absl::StrAppend(
      &text,
      "  --flagfile (read flags from these files, one \"--flag=value\" a "
      "line; lines\n"
      "    starting with # are comments); default: \"\";\n"
      "  --help (the short help); --helpfull (this); --version (the "
      "version)\n");
  return text;
}

}  // namespace aoti_executor
