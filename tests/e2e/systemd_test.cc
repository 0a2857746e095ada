// aoti-executord as a Type=notify service, with this test in systemd's
// place: the test binds the AF_UNIX datagram socket, starts the real daemon
// with NOTIFY_SOCKET (and WATCHDOG_USEC, WATCHDOG_PID as systemd sets them),
// and checks what arrives: READY=1 only once the daemon serves and has a
// spare worker, STATUS= lines with live counts, WATCHDOG=1 pings that stop
// while the serving threads are wedged, and STOPPING=1 at SIGTERM followed
// by a quiet drain (no worker starts) and exit status 0, even for a daemon
// that was stopped (SIGSTOP) when the SIGTERM came.
#include <dirent.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/types/optional.h"
#include "server/health_check.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/notify_socket.h"
#include "tests/e2e/proc_probe.h"
#include "tests/e2e/raw_session.h"

extern char** environ;

namespace aoti_executor {
namespace e2e {
namespace {

using ::testing::HasSubstr;

// Generous: the machine may be loaded. Waits are for a condition, never a
// bound on how long something took.
constexpr absl::Duration kPatience = absl::Seconds(60);
// WATCHDOG_USEC of these tests: the daemon pings every second.
constexpr int64_t kWatchdogUsec = 2000000;
// The thread that pings (SystemdWatchdog::kThreadName).
constexpr char kWatchdogThread[] = "aoti-watchdog";
// What Worker::Start logs for every worker it starts.
const std::regex& WorkerStartedLine() {
  static const std::regex line("worker pid [0-9]+ started");
  return line;
}

// As systemd sets it for a service with WatchdogSec=.
struct Environment {
  // WATCHDOG_PID: the daemon's own pid if true, else this test's.
  bool watchdog_pid_is_daemon = true;
};

// The daemon as systemd starts it: its environment, its log in a file.
class NotifiedDaemon {
 public:
  static std::unique_ptr<NotifiedDaemon> Start(const Environment& environment) {
    std::unique_ptr<NotifiedDaemon> daemon(new NotifiedDaemon());
    char dir[] = "/tmp/aoti-sd.XXXXXX";
    if (mkdtemp(dir) == nullptr) return nullptr;
    daemon->dir_ = dir;
    daemon->endpoint_ = absl::StrCat("unix:", dir, "/executor.sock");
    daemon->log_path_ = absl::StrCat(dir, "/daemon.log");
    auto socket = NotifySocket::Bind(absl::StrCat(dir, "/notify"));
    if (!socket.ok()) return nullptr;
    daemon->notify_ = *std::move(socket);
    if (!daemon->Launch(environment)) return nullptr;
    return daemon;
  }

  ~NotifiedDaemon() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    notify_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  pid_t pid() const { return pid_; }
  const std::string& endpoint() const { return endpoint_; }
  NotifySocket& notify() { return *notify_; }

  // Waits for the daemon to exit; its wait status, or nullopt if it has not
  // exited within kPatience.
  absl::optional<int> WaitForExit() {
    const absl::Time deadline = absl::Now() + kPatience;
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return absl::nullopt;
  }

  // The daemon's log so far (stdout and stderr).
  std::string Log() const {
    std::ifstream file(log_path_);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

  // The log from the line the daemon writes when it takes SIGTERM.
  std::string LogSinceSigterm() const {
    const std::string log = Log();
    const size_t signal = log.find("signal 15:");
    return signal == std::string::npos ? "" : log.substr(signal);
  }

 private:
  NotifiedDaemon() = default;

  bool Launch(const Environment& environment) {
    const std::string binary = RunfilePath("server/aoti-executord");
    std::vector<std::string> args = {
        binary, absl::StrCat("--listen=", endpoint_),
        absl::StrCat("--load-library=",
                     RunfilePath("tests/ops/libaoti_test_ops.so")),
        // Info: the lines this test reads ("worker pid N started").
        "--log-level=info", "--drain-timeout-ms=10000"};
    std::vector<std::string> env;
    for (char** variable = environ; *variable != nullptr; ++variable) {
      const std::string entry = *variable;
      if (entry.rfind("NOTIFY_SOCKET=", 0) == 0 ||
          entry.rfind("WATCHDOG_", 0) == 0) {
        continue;
      }
      env.push_back(entry);
    }
    env.push_back("NOTIFY_SOCKET=" + notify_->path());
    env.push_back(absl::StrCat("WATCHDOG_USEC=", kWatchdogUsec));
    // Filled in by the child (its pid is known only there), without
    // allocating after fork.
    char watchdog_pid[64] = "WATCHDOG_PID=";
    const bool child_fills_pid = environment.watchdog_pid_is_daemon;
    if (!child_fills_pid) {
      env.push_back(absl::StrCat("WATCHDOG_PID=", getpid()));
    }
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (std::string& entry : env) envp.push_back(entry.data());
    if (child_fills_pid) envp.push_back(watchdog_pid);
    envp.push_back(nullptr);
    const int log =
        open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log < 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      if (child_fills_pid) {
        // getpid() in decimal, after "WATCHDOG_PID=".
        char digits[32];
        int count = 0;
        for (pid_t self = getpid(); self > 0; self /= 10) {
          digits[count++] = static_cast<char>('0' + self % 10);
        }
        char* out = watchdog_pid + std::strlen("WATCHDOG_PID=");
        while (count > 0) *out++ = digits[--count];
        *out = '\0';
      }
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      execve(binary.c_str(), argv.data(), envp.data());
      _exit(127);
    }
    close(log);
    return pid_ > 0;
  }

  std::string dir_;
  std::string endpoint_;
  std::string log_path_;
  std::unique_ptr<NotifySocket> notify_;
  pid_t pid_ = -1;
};

bool IsStatus(const std::string& line) { return line.rfind("STATUS=", 0) == 0; }

// The counts of a "STATUS=serving: ..." line, or nullopt if it is not one.
struct StatusCounts {
  int64_t sessions, workers, calls, failed, in_flight;
};
absl::optional<StatusCounts> ParseStatus(const std::string& line) {
  static const std::regex serving(
      "STATUS=serving: ([0-9]+) sessions, ([0-9]+) workers, ([0-9]+) calls "
      "\\(([0-9]+) failed, ([0-9]+) in flight\\)");
  std::smatch match;
  if (!std::regex_match(line, match, serving)) return absl::nullopt;
  return StatusCounts{std::stoll(match[1]), std::stoll(match[2]),
                      std::stoll(match[3]), std::stoll(match[4]),
                      std::stoll(match[5])};
}

// The daemon's workers: its children that run with --worker-fd.
int WorkerCount(pid_t daemon) {
  int workers = 0;
  for (pid_t child : ChildrenOf(daemon)) {
    absl::optional<ProcessInfo> info = ReadProcess(child);
    if (info.has_value() && info->state != 'Z' && IsWorker(*info)) ++workers;
  }
  return workers;
}

TEST(SystemdTest, ReadyOnlyOnceTheDaemonServesWithASpareWorker) {
  auto daemon = NotifiedDaemon::Start({});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(daemon->notify().WaitForLine("READY=1", kPatience))
      << daemon->Log();
  // At once, no retry: the socket must already accept.
  EXPECT_TRUE(CheckHealth(daemon->endpoint(), absl::Seconds(10)).ok());
  EXPECT_TRUE(DaemonStatus(daemon->endpoint()).ok());
  EXPECT_GE(WorkerCount(daemon->pid()), 1) << "READY=1 before the spare";
}

TEST(SystemdTest, StatusLinesCountSessions) {
  auto daemon = NotifiedDaemon::Start({});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(daemon->notify().WaitForLine("READY=1", kPatience));
  auto counts_are = [](int64_t sessions, int64_t workers) {
    return [sessions, workers](const std::string& line) {
      absl::optional<StatusCounts> counts = ParseStatus(line);
      return counts.has_value() && counts->sessions == sessions &&
             counts->workers == workers;
    };
  };
  auto first = daemon->notify().WaitFor(IsStatus, kPatience);
  ASSERT_TRUE(first.has_value());
  absl::optional<StatusCounts> counts = ParseStatus(*first);
  ASSERT_TRUE(counts.has_value()) << *first;
  EXPECT_EQ(counts->sessions, 0);
  EXPECT_EQ(counts->workers, 0);  // the spare belongs to no session
  EXPECT_EQ(counts->calls, 0);
  {
    auto session = RawSession::Open(daemon->endpoint());
    ASSERT_TRUE(session.ok()) << session.status();
    ASSERT_TRUE(
        (*session)
            ->RegisterKernelSet(RunfilePath("tests/fixtures/aten_ops.json"))
            .ok());
    // The session, and the worker its kernel set gave it.
    EXPECT_TRUE(
        daemon->notify().WaitFor(counts_are(1, 1), kPatience).has_value());
  }
  EXPECT_TRUE(
      daemon->notify().WaitFor(counts_are(0, 0), kPatience).has_value());
}

TEST(SystemdTest, WatchdogPingsKeepArriving) {
  auto daemon = NotifiedDaemon::Start({});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(daemon->notify().WaitForLine("READY=1", kPatience));
  for (int ping = 0; ping < 3; ++ping) {
    ASSERT_TRUE(daemon->notify().WaitForLine("WATCHDOG=1", kPatience))
        << "ping " << ping;
  }
}

// Systemd watches only the main process (WATCHDOG_PID); the workers inherit
// the environment, and so would anything the daemon runs.
TEST(SystemdTest, NoPingsWhenWatchdogPidIsAnotherProcess) {
  Environment environment;
  environment.watchdog_pid_is_daemon = false;
  auto daemon = NotifiedDaemon::Start(environment);
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(daemon->notify().WaitForLine("READY=1", kPatience));
  // STATUS= still comes (every 5 s without a watchdog); count pings until
  // the third one.
  int statuses = 0;
  int pings = 0;
  daemon->notify().WaitFor(
      [&](const std::string& line) {
        if (line == "WATCHDOG=1") ++pings;
        return IsStatus(line) && ++statuses == 3;
      },
      kPatience);
  EXPECT_EQ(statuses, 3);
  EXPECT_EQ(pings, 0);
}

// Stops every thread of `pid` but the watchdog's, one thread at a time with
// ptrace (SIGSTOP would stop the whole process, the pinger too): the serving
// threads are wedged, the pinger runs on. Repeats until no thread is left
// running, for threads started meanwhile. Returns the stopped threads.
std::set<pid_t> WedgeAllButTheWatchdog(pid_t pid) {
  std::set<pid_t> stopped;
  const std::string tasks = absl::StrCat("/proc/", pid, "/task");
  bool more = true;
  while (more) {
    more = false;
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
      const pid_t tid = std::stoi(task.path().filename().string());
      if (stopped.count(tid) > 0) continue;
      std::string name;
      std::getline(std::ifstream(task.path() / "comm"), name);
      if (name == kWatchdogThread) continue;
      if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
        ADD_FAILURE() << "ptrace(PTRACE_SEIZE, " << tid
                      << "): " << std::strerror(errno);
        continue;
      }
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      int status = 0;
      waitpid(tid, &status, __WALL);
      stopped.insert(tid);
      more = true;
    }
  }
  return stopped;
}

void Release(const std::set<pid_t>& stopped) {
  for (pid_t tid : stopped) ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
}

TEST(SystemdTest, WedgedServingThreadsGetNoPings) {
  auto daemon = NotifiedDaemon::Start({});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(daemon->notify().WaitForLine("READY=1", kPatience));
  ASSERT_TRUE(daemon->notify().WaitForLine("WATCHDOG=1", kPatience));
  const std::set<pid_t> stopped = WedgeAllButTheWatchdog(daemon->pid());
  ASSERT_FALSE(HasFailure());
  ASSERT_GE(stopped.size(), 2u);
  // A probe answered just before the wedge may still ping; from the first
  // unanswered probe on, none may.
  auto not_answering = [](const std::string& line) {
    return line.rfind("STATUS=not answering", 0) == 0;
  };
  const bool noticed =
      daemon->notify().WaitFor(not_answering, kPatience).has_value();
  int pings = 0;
  int unanswered = 0;
  if (noticed) {
    // Three more unanswered probes (about three seconds), and no ping.
    daemon->notify().WaitFor(
        [&](const std::string& line) {
          if (line == "WATCHDOG=1") ++pings;
          return not_answering(line) && ++unanswered == 3;
        },
        kPatience);
  }
  Release(stopped);
  EXPECT_TRUE(noticed) << "the pinger never reported the wedge";
  EXPECT_EQ(unanswered, 3);
  EXPECT_EQ(pings, 0) << "pinged while its serving threads were stopped";
  // Thawed, it serves and pings again, and still stops cleanly.
  EXPECT_TRUE(daemon->notify().WaitForLine("WATCHDOG=1", kPatience));
  kill(daemon->pid(), SIGTERM);
  absl::optional<int> status = daemon->WaitForExit();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
}

// The demo's case: a client took the spare, so the next one is starting as
// SIGTERM comes. The drain starts no worker, and that one never finishes.
TEST(SystemdTest, SigtermSaysStoppingAndStartsNoWorker) {
  auto daemon = NotifiedDaemon::Start({});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(daemon->notify().WaitForLine("READY=1", kPatience));
  auto session = RawSession::Open(daemon->endpoint());
  ASSERT_TRUE(session.ok()) << session.status();
  // Takes a spare: the pool starts one in its place now, and (forked by the
  // zygote) has it within milliseconds. Once it has (the daemon's default
  // spares, and the one more), nothing is starting: any worker start logged
  // after SIGTERM began after it.
  constexpr int kDefaultSpares = 4;
  ASSERT_TRUE(
      (*session)
          ->RegisterKernelSet(RunfilePath("tests/fixtures/aten_ops.json"))
          .ok());
  auto workers_started = [&] {
    const std::string log = daemon->Log();
    return std::distance(
        std::sregex_iterator(log.begin(), log.end(), WorkerStartedLine()),
        std::sregex_iterator());
  };
  const absl::Time give_up = absl::Now() + kPatience;
  while (workers_started() < kDefaultSpares + 1 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(workers_started(), kDefaultSpares + 1)
      << "the spares, and the one replacing the session's";
  kill(daemon->pid(), SIGTERM);
  EXPECT_TRUE(daemon->notify().WaitForLine("STOPPING=1", kPatience));
  absl::optional<int> status = daemon->WaitForExit();
  ASSERT_TRUE(status.has_value()) << daemon->Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  const std::string log = daemon->Log();
  // The pattern matches the daemon's real lines: the spare's, before.
  EXPECT_TRUE(std::regex_search(log, WorkerStartedLine())) << log;
  const std::string after = daemon->LogSinceSigterm();
  EXPECT_THAT(after, HasSubstr("stopped")) << log;
  EXPECT_FALSE(std::regex_search(after, WorkerStartedLine())) << after;
}

// A daemon stopped (SIGSTOP) when SIGTERM comes takes it on SIGCONT, drains
// and exits 0, starting no worker.
TEST(SystemdTest, StoppedDaemonDrainsOnContinue) {
  auto daemon = NotifiedDaemon::Start({});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(daemon->notify().WaitForLine("READY=1", kPatience));
  kill(daemon->pid(), SIGSTOP);
  int stopped = 0;
  ASSERT_EQ(waitpid(daemon->pid(), &stopped, WUNTRACED), daemon->pid());
  ASSERT_TRUE(WIFSTOPPED(stopped));
  kill(daemon->pid(), SIGTERM);
  kill(daemon->pid(), SIGCONT);
  EXPECT_TRUE(daemon->notify().WaitForLine("STOPPING=1", kPatience));
  absl::optional<int> status = daemon->WaitForExit();
  ASSERT_TRUE(status.has_value()) << daemon->Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  const std::string after = daemon->LogSinceSigterm();
  EXPECT_THAT(after, HasSubstr("stopped")) << daemon->Log();
  EXPECT_FALSE(std::regex_search(after, WorkerStartedLine())) << after;
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
