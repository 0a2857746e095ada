#include "tests/e2e/logged_daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/daemon_process.h"

extern char** environ;

namespace aoti_executor {
namespace {

// In the forked child: becomes options.uid/gid, keeping one capability,
// CAP_DAC_READ_SEARCH, across exec (as an ambient capability), so that the
// daemon can load itself and libtorch from the test's runfiles, which may
// lie under root's 0700 home. The peer policy looks at uids only.
bool BecomeUserWhoCanReadRunfiles(const e2e::LoggedDaemon::Options& options) {
  if (prctl(PR_SET_KEEPCAPS, 1) != 0 || setgroups(0, nullptr) != 0 ||
      setresgid(options.gid, options.gid, options.gid) != 0 ||
      setresuid(options.uid, options.uid, options.uid) != 0) {
    return false;
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  const uint32_t read_search = 1u << CAP_DAC_READ_SEARCH;
  data[0].effective = data[0].permitted = data[0].inheritable = read_search;
  return syscall(SYS_capset, &header, data) == 0 &&
         prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0,
               0) == 0;
}

}  // namespace
namespace e2e {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LoggedDaemon>> LoggedDaemon::Start(
    Options options) {
  const std::string binary = RunfilePath("server/aoti-executord");
  std::vector<std::string> args = {binary, "--log-level=info"};
  args.insert(args.end(), options.flags.begin(), options.flags.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int log = open(options.log_path.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) return absl::ErrnoToStatus(errno, options.log_path);
  const pid_t pid = fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    dup2(log, STDERR_FILENO);
    if (options.uid >= 0 && !BecomeUserWhoCanReadRunfiles(options)) {
      _exit(126);
    }
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(log);
  std::unique_ptr<LoggedDaemon> daemon(new LoggedDaemon(pid, options.log_path));
  // Generous: the machine may be loaded. A wait for a condition.
  const absl::Time give_up = absl::Now() + absl::Seconds(120);
  while (absl::Now() < give_up) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      daemon->pid_ = -1;
      return absl::InternalError(
          absl::StrCat("aoti-executord exited during start (status ", status,
                       "): ", daemon->Log()));
    }
    if (daemon->Log().find(" ready") != std::string::npos) return daemon;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("aoti-executord did not log 'ready': ", daemon->Log()));
}

LoggedDaemon::~LoggedDaemon() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string LoggedDaemon::Log() const { return ReadAll(log_path_); }

bool LoggedDaemon::WaitForLog(const std::string& text,
                              absl::Duration timeout) const {
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    if (Log().find(text) != std::string::npos) return true;
    if (absl::Now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int LoggedDaemon::MetricsPort() const {
  const std::string log = Log();
  const std::string marker = "/metrics (port ";
  const size_t at = log.find(marker);
  if (at == std::string::npos) return -1;
  const size_t start = at + marker.size();
  int port = -1;
  if (!absl::SimpleAtoi(log.substr(start, log.find(')', start) - start),
                        &port)) {
    return -1;
  }
  return port;
}

absl::StatusOr<CommandResult> RunDaemonCommand(
    const std::vector<std::string>& args, const std::vector<std::string>& env) {
  const std::string binary = RunfilePath("server/aoti-executord");
  std::vector<std::string> all = {binary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : all) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> environment;
  for (char** var = environ; *var != nullptr; ++var) {
    environment.push_back(*var);
  }
  environment.insert(environment.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (std::string& var : environment) envp.push_back(var.data());
  envp.push_back(nullptr);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  const pid_t pid = fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(out[1]);
  CommandResult result;
  char buffer[4096];
  ssize_t n;
  while ((n = read(out[0], buffer, sizeof(buffer))) > 0 ||
         (n < 0 && errno == EINTR)) {
    if (n > 0) result.output.append(buffer, n);
  }
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

absl::StatusOr<std::string> ScrapeMetrics(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port));
  }
  const std::string request =
      "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("write");
  }
  std::string answer;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) answer.append(buffer, n);
  close(fd);
  return answer;
}

}  // namespace e2e
}  // namespace aoti_executor
