// ParseDaemonFlags, GrpcAddress and UnixPath against daemon_flags.h: the
// defaults, both spellings of a value, repeatable flags, flag files, the
// attach socket derived from --listen, and every refusal naming its flag.
#include "server/daemon_flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/common/endpoint.h"

namespace aoti_executor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// ParseDaemonFlags on `args`, after a program name.
absl::StatusOr<DaemonFlags> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "aoti-executord");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  return ParseDaemonFlags(static_cast<int>(args.size()), argv.data());
}

// The message of a refusal, or a failure if `args` were accepted.
std::string Refusal(const std::vector<std::string>& args) {
  absl::StatusOr<DaemonFlags> flags = Parse(args);
  EXPECT_FALSE(flags.ok()) << "accepted: " << ::testing::PrintToString(args);
  if (flags.ok()) return "";
  EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(flags.status().message());
}

TEST(ParseDaemonFlagsTest, DefaultsWithNoArguments) {
  absl::StatusOr<DaemonFlags> flags = Parse({});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(flags->listen, ElementsAre(std::string(kDefaultEndpoint)));
  EXPECT_THAT(flags->listen,
              ElementsAre("unix:/tmp/aoti-executor/executor.sock"));
  EXPECT_EQ(flags->attach_socket, "/tmp/aoti-executor/executor.sock.attach");
  EXPECT_TRUE(flags->load_libraries.empty());
  EXPECT_EQ(flags->log_level, "info");
  EXPECT_EQ(flags->drain_timeout_ms, 30000);
  EXPECT_EQ(flags->call_timeout_ms, 60000);
  EXPECT_EQ(flags->worker_threads, 2);
  EXPECT_EQ(flags->worker_memory_limit_mb, 0);
  EXPECT_EQ(flags->spare_workers, 4);
  EXPECT_EQ(flags->quarantine_crashes, 3);
  EXPECT_EQ(flags->quarantine_window_s, 300);
  EXPECT_EQ(flags->call_lanes, 4);
  EXPECT_EQ(flags->health_check, "");
  EXPECT_EQ(flags->status, "");
  EXPECT_EQ(flags->clear_quarantine, "");
  EXPECT_EQ(flags->log_format, "text");
  EXPECT_EQ(flags->metrics_listen, "");
  EXPECT_FALSE(flags->help);
  EXPECT_FALSE(flags->helpfull);
  EXPECT_FALSE(flags->version);
  EXPECT_EQ(flags->worker_fd, -1);
  EXPECT_EQ(flags->region_id_base, 0u);
}

TEST(ParseDaemonFlagsTest, AttachSocketBesideTheFirstUnixListener) {
  absl::StatusOr<DaemonFlags> flags =
      Parse({"--listen=tcp:127.0.0.1:50051", "--listen=unix:/run/a/one.sock",
             "--listen=/run/b/two.sock", "--insecure-tcp"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(flags->listen,
              ElementsAre("tcp:127.0.0.1:50051", "unix:/run/a/one.sock",
                          "/run/b/two.sock"));
  EXPECT_EQ(flags->attach_socket, "/run/a/one.sock.attach");
}

TEST(ParseDaemonFlagsTest, AttachSocketBesideTheDefaultWhenAllListenersAreTcp) {
  absl::StatusOr<DaemonFlags> flags =
      Parse({"--listen=tcp:localhost:7000", "--listen", "tcp:[::1]:7001",
             "--insecure-tcp"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  // The default socket is not listened on: only derived from.
  EXPECT_THAT(flags->listen,
              ElementsAre("tcp:localhost:7000", "tcp:[::1]:7001"));
  EXPECT_EQ(flags->attach_socket, "/tmp/aoti-executor/executor.sock.attach");
}

TEST(ParseDaemonFlagsTest, AttachSocketFlagWins) {
  absl::StatusOr<DaemonFlags> flags =
      Parse({"--listen=unix:/run/a/one.sock", "--attach-socket=/run/x.att"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->attach_socket, "/run/x.att");
}

TEST(ParseDaemonFlagsTest, AttachSocketFromUnixTripleSlashForm) {
  absl::StatusOr<DaemonFlags> flags = Parse({"--listen=unix:///run/c.sock"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->attach_socket, "/run/c.sock.attach");
}

TEST(ParseDaemonFlagsTest, ListenAndLoadLibraryRepeatInOrder) {
  absl::StatusOr<DaemonFlags> flags =
      Parse({"--load-library=/opt/a.so", "--listen=unix:/s/1", "--load-library",
             "/opt/b.so", "--listen", "unix:/s/2", "--load-library=/opt/a.so"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(flags->listen, ElementsAre("unix:/s/1", "unix:/s/2"));
  EXPECT_THAT(flags->load_libraries,
              ElementsAre("/opt/a.so", "/opt/b.so", "/opt/a.so"));
}

TEST(ParseDaemonFlagsTest, EqualsAndSeparateValueMeanTheSame) {
  absl::StatusOr<DaemonFlags> joined = Parse(
      {"--log-level=debug", "--drain-timeout-ms=17", "--call-timeout-ms=18",
       "--worker-threads=19", "--worker-memory-limit-mb=20",
       "--quarantine-crashes=21", "--quarantine-window-s=22", "--call-lanes=23",
       "--worker-fd=24", "--region-id-base=25", "--attach-socket=/x/y",
       "--health-check=unix:/h.sock", "--status=tcp:host:9",
       "--clear-quarantine=/q.sock"});
  absl::StatusOr<DaemonFlags> separate = Parse({"--log-level",
                                                "debug",
                                                "--drain-timeout-ms",
                                                "17",
                                                "--call-timeout-ms",
                                                "18",
                                                "--worker-threads",
                                                "19",
                                                "--worker-memory-limit-mb",
                                                "20",
                                                "--quarantine-crashes",
                                                "21",
                                                "--quarantine-window-s",
                                                "22",
                                                "--call-lanes",
                                                "23",
                                                "--worker-fd",
                                                "24",
                                                "--region-id-base",
                                                "25",
                                                "--attach-socket",
                                                "/x/y",
                                                "--health-check",
                                                "unix:/h.sock",
                                                "--status",
                                                "tcp:host:9",
                                                "--clear-quarantine",
                                                "/q.sock"});
  for (const absl::StatusOr<DaemonFlags>* flags : {&joined, &separate}) {
    ASSERT_TRUE(flags->ok()) << flags->status();
    const DaemonFlags& f = **flags;
    EXPECT_EQ(f.log_level, "debug");
    EXPECT_EQ(f.drain_timeout_ms, 17);
    EXPECT_EQ(f.call_timeout_ms, 18);
    EXPECT_EQ(f.worker_threads, 19);
    EXPECT_EQ(f.worker_memory_limit_mb, 20);
    EXPECT_EQ(f.quarantine_crashes, 21);
    EXPECT_EQ(f.quarantine_window_s, 22);
    EXPECT_EQ(f.call_lanes, 23);
    EXPECT_EQ(f.worker_fd, 24);
    EXPECT_EQ(f.region_id_base, 25u);
    EXPECT_EQ(f.attach_socket, "/x/y");
    // Addresses are kept as given, not canonicalized.
    EXPECT_EQ(f.health_check, "unix:/h.sock");
    EXPECT_EQ(f.status, "tcp:host:9");
    EXPECT_EQ(f.clear_quarantine, "/q.sock");
  }
}

TEST(ParseDaemonFlagsTest, HelpAndVersionTakeNoValue) {
  absl::StatusOr<DaemonFlags> flags =
      Parse({"--help", "--version", "--call-lanes=1"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_TRUE(flags->help);
  EXPECT_TRUE(flags->version);
  EXPECT_EQ(flags->call_lanes, 1);
}

TEST(ParseDaemonFlagsTest, LaterValueOfASingleFlagWins) {
  absl::StatusOr<DaemonFlags> flags =
      Parse({"--worker-threads=3", "--worker-threads", "5"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->worker_threads, 5);
}

struct Bound {
  const char* flag;
  int64_t lowest;  // the lowest value accepted
};

TEST(ParseDaemonFlagsTest, EveryNumericFlagRefusesBelowItsLowerBound) {
  // From the header: timeouts in ms > 0 except the drain (0: none), counts
  // of threads and crashes >= 1, limits and lanes >= 0 (0: none), fds >= 0.
  const Bound bounds[] = {
      {"drain-timeout-ms", 0},    {"call-timeout-ms", 1},
      {"worker-threads", 1},      {"worker-memory-limit-mb", 0},
      {"spare-workers", 0},       {"quarantine-crashes", 1},
      {"quarantine-window-s", 1}, {"call-lanes", 0},
      {"worker-fd", 0},           {"region-id-base", 0},
  };
  for (const Bound& bound : bounds) {
    SCOPED_TRACE(bound.flag);
    const std::string flag = absl::StrCat("--", bound.flag);
    absl::StatusOr<DaemonFlags> lowest =
        Parse({absl::StrCat(flag, "=", bound.lowest)});
    EXPECT_TRUE(lowest.ok()) << lowest.status();
    EXPECT_THAT(Refusal({absl::StrCat(flag, "=", bound.lowest - 1)}),
                HasSubstr(flag));
    EXPECT_THAT(Refusal({flag, absl::StrCat(bound.lowest - 1)}),
                HasSubstr(flag));
    EXPECT_THAT(Refusal({absl::StrCat(flag, "=many")}), HasSubstr(flag));
    EXPECT_THAT(Refusal({absl::StrCat(flag, "=")}), HasSubstr(flag));
    EXPECT_THAT(Refusal({absl::StrCat(flag, "=3x")}), HasSubstr(flag));
  }
}

TEST(ParseDaemonFlagsTest, BoundsAreStoredAsGiven) {
  absl::StatusOr<DaemonFlags> flags =
      Parse({"--drain-timeout-ms=0", "--call-timeout-ms=1",
             "--worker-threads=1", "--worker-memory-limit-mb=0",
             "--spare-workers=0", "--quarantine-crashes=1",
             "--quarantine-window-s=1", "--call-lanes=0", "--worker-fd=0"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->drain_timeout_ms, 0);
  EXPECT_EQ(flags->call_timeout_ms, 1);
  EXPECT_EQ(flags->worker_threads, 1);
  EXPECT_EQ(flags->worker_memory_limit_mb, 0);
  EXPECT_EQ(flags->spare_workers, 0);
  EXPECT_EQ(flags->quarantine_crashes, 1);
  EXPECT_EQ(flags->quarantine_window_s, 1);
  EXPECT_EQ(flags->call_lanes, 0);
  EXPECT_EQ(flags->worker_fd, 0);
}

TEST(ParseDaemonFlagsTest, UnknownFlagIsRefusedNamingIt) {
  EXPECT_THAT(Refusal({"--call-lane=0"}), HasSubstr("--call-lane"));
  EXPECT_THAT(Refusal({"--listen=unix:/a", "--frobnicate"}),
              HasSubstr("--frobnicate"));
  // Single-dash flags are not flags.
  EXPECT_THAT(Refusal({"-listen=unix:/a"}), HasSubstr("-listen=unix:/a"));
}

TEST(ParseDaemonFlagsTest, PositionalArgumentIsRefusedQuotingIt) {
  EXPECT_THAT(Refusal({"serve"}), HasSubstr("serve"));
}

TEST(ParseDaemonFlagsTest, MissingValueIsRefusedNamingTheFlag) {
  EXPECT_THAT(Refusal({"--call-lanes"}), HasSubstr("--call-lanes"));
  EXPECT_THAT(Refusal({"--worker-threads=2", "--listen"}),
              HasSubstr("--listen"));
}

TEST(ParseDaemonFlagsTest, BadAddressesAreRefusedNamingTheFlag) {
  const std::string too_long = absl::StrCat("unix:/", std::string(120, 'a'));
  for (const char* flag :
       {"listen", "health-check", "status", "clear-quarantine"}) {
    SCOPED_TRACE(flag);
    const std::string name = absl::StrCat("--", flag);
    for (const std::string& address :
         {std::string("relative/path.sock"), std::string("unix:relative"),
          std::string("tcp:localhost"), std::string("tcp::50051"),
          std::string("tcp:localhost:0"), std::string("tcp:localhost:65536"),
          std::string("http://localhost:80"), std::string(""), too_long}) {
      SCOPED_TRACE(address);
      EXPECT_THAT(Refusal({absl::StrCat(name, "=", address)}), HasSubstr(name));
    }
  }
}

TEST(ParseDaemonFlagsTest, EmptyLoadLibraryIsRefused) {
  EXPECT_THAT(Refusal({"--load-library="}), HasSubstr("--load-library"));
}

TEST(GrpcAddressTest, UnixFormsBecomeUnixTargets) {
  for (const char* listen :
       {"unix:/run/e.sock", "unix:///run/e.sock", "/run/e.sock"}) {
    absl::StatusOr<std::string> address = GrpcAddress(listen);
    ASSERT_TRUE(address.ok()) << listen << ": " << address.status();
    EXPECT_EQ(*address, "unix:/run/e.sock") << listen;
  }
}

TEST(GrpcAddressTest, TcpBecomesHostPort) {
  absl::StatusOr<std::string> v4 = GrpcAddress("tcp:127.0.0.1:50051");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(*v4, "127.0.0.1:50051");
  absl::StatusOr<std::string> v6 = GrpcAddress("tcp:[::1]:443");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(*v6, "[::1]:443");
  absl::StatusOr<std::string> name = GrpcAddress("tcp:executor.local:1");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(*name, "executor.local:1");
}

TEST(GrpcAddressTest, BadAddressIsInvalidArgumentQuotingIt) {
  for (const char* listen :
       {"relative.sock", "unix:", "tcp:host", "tcp:::1:80", "tcp:host:http"}) {
    absl::StatusOr<std::string> address = GrpcAddress(listen);
    ASSERT_FALSE(address.ok()) << listen << " gave " << *address;
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(address.status().message(), HasSubstr(listen));
  }
}

TEST(UnixPathTest, PathOfUnixAddressesEmptyOtherwise) {
  EXPECT_EQ(UnixPath("unix:/run/e.sock"), "/run/e.sock");
  EXPECT_EQ(UnixPath("unix:///run/e.sock"), "/run/e.sock");
  EXPECT_EQ(UnixPath("/run/e.sock"), "/run/e.sock");
  EXPECT_EQ(UnixPath("tcp:localhost:50051"), "");
  EXPECT_EQ(UnixPath("unix:relative"), "");
  EXPECT_EQ(UnixPath(""), "");
}

// A file under the test's temporary directory holding `text`; its path.
std::string WriteFile(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path =
      absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
  std::ofstream(path) << text;
  return path;
}

TEST(ParseDaemonFlagsTest, FlagFileValuesApplyWhereItStands) {
  const std::string path = WriteFile("flags",
                                     "# the daemon's flags\n"
                                     "--listen=unix:/run/a.sock\n"
                                     "\n"
                                     "   --worker-threads=7   \n"
                                     "--load-library=/opt/a.so\n"
                                     "--log-format=json\n"
                                     "--metrics-listen=0.0.0.0:9464\n");
  absl::StatusOr<DaemonFlags> flags =
      Parse({"--worker-threads=3", "--listen=unix:/run/first.sock",
             absl::StrCat("--flagfile=", path), "--load-library", "/opt/b.so"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  // After --worker-threads=3 on the command line: the file's value wins.
  EXPECT_EQ(flags->worker_threads, 7);
  EXPECT_THAT(flags->listen,
              ElementsAre("unix:/run/first.sock", "unix:/run/a.sock"));
  EXPECT_THAT(flags->load_libraries, ElementsAre("/opt/a.so", "/opt/b.so"));
  EXPECT_EQ(flags->log_format, "json");
  EXPECT_EQ(flags->metrics_listen, "0.0.0.0:9464");
  EXPECT_EQ(flags->attach_socket, "/run/first.sock.attach");
  // The separate spelling works for --flagfile too, and later flags win.
  absl::StatusOr<DaemonFlags> again =
      Parse({"--flagfile", path, "--worker-threads=9"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->worker_threads, 9);
}

TEST(ParseDaemonFlagsTest, FlagFileRefusalsNameTheFileLineAndFlag) {
  const std::string path =
      WriteFile("bad_flags", "--listen=unix:/run/a.sock\n--call-lanes=-1\n");
  const std::string refusal = Refusal({absl::StrCat("--flagfile=", path)});
  EXPECT_THAT(refusal, HasSubstr(absl::StrCat(path, ":2")));
  EXPECT_THAT(refusal, HasSubstr("--call-lanes"));
  EXPECT_THAT(Refusal({"--flagfile=/nonexistent/aoti/flags"}),
              HasSubstr("--flagfile=/nonexistent/aoti/flags"));
  const std::string unknown = WriteFile("unknown_flags", "--frobnicate=1\n");
  EXPECT_THAT(Refusal({absl::StrCat("--flagfile=", unknown)}),
              HasSubstr("--frobnicate"));
  // A flag file that names itself ends with a refusal, not a stack overflow.
  const std::string loop = absl::StrCat(std::getenv("TEST_TMPDIR"), "/loop");
  WriteFile("loop", absl::StrCat("--flagfile=", loop, "\n"));
  EXPECT_THAT(Refusal({absl::StrCat("--flagfile=", loop)}),
              HasSubstr("--flagfile"));
}

TEST(ParseDaemonFlagsTest, RepeatedListFlagsAccumulateAndTakeCommaLists) {
  // absl::ParseCommandLine would keep only the last --listen: each
  // occurrence replaces a std::vector flag's value. Ours add up.
  absl::StatusOr<DaemonFlags> flags = Parse(
      {"--listen=unix:/s/1,tcp:localhost:7000", "--listen=unix:/s/2",
       "--load-library=/a.so,/b.so", "--load-library=/c.so", "--insecure-tcp"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(flags->listen,
              ElementsAre("unix:/s/1", "tcp:localhost:7000", "unix:/s/2"));
  EXPECT_THAT(flags->load_libraries, ElementsAre("/a.so", "/b.so", "/c.so"));
  EXPECT_THAT(Refusal({"--listen=unix:/s/1,"}), HasSubstr("--listen"));
  EXPECT_THAT(Refusal({"--listen=unix:/s/1,relative"}), HasSubstr("--listen"));
  EXPECT_THAT(Refusal({"--load-library=/a.so,,/b.so"}),
              HasSubstr("--load-library"));
}

TEST(ParseDaemonFlagsTest, EachParseStartsFromTheDefaults) {
  ASSERT_TRUE(Parse({"--listen=unix:/s/1", "--worker-threads=5",
                     "--log-format=json", "--load-library=/a.so"})
                  .ok());
  absl::StatusOr<DaemonFlags> flags = Parse({"--load-library=/b.so"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(flags->listen, ElementsAre(std::string(kDefaultEndpoint)));
  EXPECT_EQ(flags->worker_threads, 2);
  EXPECT_EQ(flags->log_format, "text");
  EXPECT_THAT(flags->load_libraries, ElementsAre("/b.so"));
  // A refused parse leaves nothing behind either.
  Refusal({"--worker-threads=6", "--call-lanes=x"});
  flags = Parse({});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->worker_threads, 2);
}

TEST(ParseDaemonFlagsTest, LogAndMetricsFlagsAreChecked) {
  for (const char* level : {"trace", "debug", "info", "warn", "warning",
                            "error", "err", "critical", "off"}) {
    absl::StatusOr<DaemonFlags> flags =
        Parse({absl::StrCat("--log-level=", level)});
    ASSERT_TRUE(flags.ok()) << level << ": " << flags.status();
    EXPECT_EQ(flags->log_level, level);
  }
  EXPECT_THAT(Refusal({"--log-level=loud"}), HasSubstr("--log-level"));
  EXPECT_THAT(Refusal({"--log-format=xml"}), HasSubstr("--log-format"));
  EXPECT_THAT(Refusal({"--log-format="}), HasSubstr("--log-format"));
  absl::StatusOr<DaemonFlags> v6 = Parse({"--metrics-listen", "[::1]:0"});
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->metrics_listen, "[::1]:0");
  for (const char* bad : {"9464", ":9464", "host:", "host:65536", "host:x"}) {
    EXPECT_THAT(Refusal({absl::StrCat("--metrics-listen=", bad)}),
                HasSubstr("--metrics-listen"))
        << bad;
  }
}

TEST(ParseDaemonFlagsTest, HelpfullIsAFlagAndListsEveryFlag) {
  absl::StatusOr<DaemonFlags> flags = Parse({"--helpfull"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_TRUE(flags->helpfull);
  EXPECT_FALSE(flags->help);
  EXPECT_THAT(Refusal({"--helpfull=maybe"}), HasSubstr("--helpfull"));
  const std::string text = DaemonHelpFull();
  for (const char* flag : {"--listen",
                           "--attach-socket",
                           "--allow-uid",
                           "--allow-gid",
                           "--tls-cert",
                           "--tls-key",
                           "--tls-client-ca",
                           "--insecure-tcp",
                           "--load-library",
                           "--log-level",
                           "--log-format",
                           "--metrics-listen",
                           "--drain-timeout-ms",
                           "--call-timeout-ms",
                           "--worker-threads",
                           "--worker-memory-limit-mb",
                           "--spare-workers",
                           "--quarantine-crashes",
                           "--quarantine-window-s",
                           "--call-lanes",
                           "--health-check",
                           "--status",
                           "--clear-quarantine",
                           "--worker-fd",
                           "--region-id-base",
                           "--flagfile",
                           "--help",
                           "--version"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat(flag, " ("))) << flag;
    // --help lists them too, but the internal ones.
    if (absl::string_view(flag) != "--worker-fd" &&
        absl::string_view(flag) != "--region-id-base") {
      EXPECT_THAT(DaemonUsage(), HasSubstr(flag)) << flag;
    }
  }
  // The defaults come from the flag definitions.
  EXPECT_THAT(text, HasSubstr("--call-timeout-ms ("));
  EXPECT_THAT(text, HasSubstr("default: \"60000\""));
  EXPECT_THAT(text, HasSubstr("default: \"text\""));
  EXPECT_THAT(text, Not(HasSubstr("--call_timeout_ms")));
}

TEST(ParseDaemonFlagsTest, TcpListenersNeedTlsOrInsecureTcp) {
  const std::string refusal = Refusal({"--listen=tcp:127.0.0.1:7000"});
  EXPECT_THAT(refusal, HasSubstr("--listen=tcp:127.0.0.1:7000"));
  EXPECT_THAT(refusal, HasSubstr("--tls-cert=CERT.pem"));
  EXPECT_THAT(refusal, HasSubstr("--tls-key=KEY.pem"));
  EXPECT_THAT(refusal, HasSubstr("--insecure-tcp"));

  absl::StatusOr<DaemonFlags> tls =
      Parse({"--listen=tcp:127.0.0.1:7000", "--tls-cert=/c.pem",
             "--tls-key=/k.pem", "--tls-client-ca=/ca.pem"});
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ(tls->tls_cert, "/c.pem");
  EXPECT_EQ(tls->tls_key, "/k.pem");
  EXPECT_EQ(tls->tls_client_ca, "/ca.pem");
  EXPECT_FALSE(tls->insecure_tcp);
  // A bare --insecure-tcp is true; it takes true/false as a value too.
  absl::StatusOr<DaemonFlags> plain =
      Parse({"--insecure-tcp", "--listen=tcp:127.0.0.1:7000"});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->insecure_tcp);
  EXPECT_THAT(Refusal({"--listen=tcp:127.0.0.1:7000", "--insecure-tcp=false"}),
              HasSubstr("--insecure-tcp"));

  EXPECT_THAT(Refusal({"--listen=tcp:h:1", "--tls-cert=/c.pem"}),
              HasSubstr("--tls-cert and --tls-key go together"));
  EXPECT_THAT(Refusal({"--listen=tcp:h:1", "--tls-key=/k.pem"}),
              HasSubstr("--tls-cert and --tls-key go together"));
  EXPECT_THAT(Refusal({"--listen=tcp:h:1", "--insecure-tcp",
                       "--tls-client-ca=/ca.pem"}),
              HasSubstr("--tls-client-ca needs --tls-cert"));
  EXPECT_THAT(Refusal({"--listen=tcp:h:1", "--insecure-tcp",
                       "--tls-cert=/c.pem", "--tls-key=/k.pem"}),
              HasSubstr("exclude each other"));
  EXPECT_THAT(Refusal({"--tls-cert=/c.pem", "--tls-key=/k.pem"}),
              HasSubstr("there is none"));
  EXPECT_THAT(Refusal({"--insecure-tcp"}), HasSubstr("there is none"));
  // One-shot commands do not serve: the serving checks do not apply.
  EXPECT_TRUE(Parse({"--listen=tcp:h:1", "--status=tcp:h:1"}).ok());
}

TEST(ParseDaemonFlagsTest, AllowUidAndGidTakeNumbersAndNamesAndAddUp) {
  absl::StatusOr<DaemonFlags> none = Parse({});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->allow_uids.empty());
  EXPECT_TRUE(none->allow_gids.empty());
  // root and its group are in every system's databases.
  absl::StatusOr<DaemonFlags> flags =
      Parse({"--allow-uid=1000,root", "--allow-gid=4242", "--allow-uid",
             "65534", "--allow-gid=root,7"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(flags->allow_uids, ElementsAre(1000u, 0u, 65534u));
  EXPECT_THAT(flags->allow_gids, ElementsAre(4242u, 0u, 7u));
  EXPECT_THAT(Refusal({"--allow-uid=no-such-user-aoti"}),
              HasSubstr("no user named 'no-such-user-aoti'"));
  EXPECT_THAT(Refusal({"--allow-gid=no-such-group-aoti"}),
              HasSubstr("no group named 'no-such-group-aoti'"));
  EXPECT_THAT(Refusal({"--allow-uid=4294967295"}), HasSubstr("--allow-uid"));
  EXPECT_THAT(Refusal({"--allow-uid=1,,2"}), HasSubstr("--allow-uid"));
  EXPECT_THAT(Refusal({"--allow-gid=99999999999"}), HasSubstr("--allow-gid"));
}

TEST(ParseDaemonFlagsTest, WritesNothingToStderr) {
  // absl writes a line to stderr when a flag is set to a value that does
  // not parse back, or restored by absl::FlagSaver: a JSON log must not
  // start with such lines.
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(Parse({"--listen=unix:/s/1", "--worker-fd=3",
                     "--health-check=unix:/h", "--metrics-listen=h:1"})
                  .ok());
  ASSERT_TRUE(Parse({}).ok());
  Refusal({"--call-lanes=-1"});
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(ParseDaemonFlagsTest, UnderscoreSpellingIsTheSameFlag) {
  absl::StatusOr<DaemonFlags> flags =
      Parse({"--call_lanes=2", "--load_library=/x.so"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->call_lanes, 2);
  EXPECT_THAT(flags->load_libraries, ElementsAre("/x.so"));
}

}  // namespace
}  // namespace aoti_executor
