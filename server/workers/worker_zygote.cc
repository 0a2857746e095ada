#include "server/workers/worker_zygote.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/common/status_macros.h"
#include "server/framing/packet_channel.h"
#include "server/workers/process_spawn.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {
namespace {

constexpr char kReady[] = "ready";
constexpr char kFork[] = "fork";
// A reply starting with this is an error message; any other is a pid.
constexpr char kError = '!';
constexpr size_t kMaxPacket = 1024;
// A fork takes milliseconds; a zygote that takes this long is stuck (or
// stopped), and workers are spawned from the binary instead.
constexpr absl::Duration kForkTimeout = absl::Seconds(10);
// After a zygote failed to start or died, how long workers are spawned from
// the binary before another zygote is tried.
constexpr absl::Duration kRestartDelay = absl::Seconds(30);

size_t ThreadCount() {
  std::error_code error;
  size_t count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/task", error), end;
       !error && it != end; it.increment(error)) {
    ++count;
  }
  return count;
}

int WaitForPid(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Forks the worker through a middle process that exits at once, so that the
// worker is re-parented to the daemon (the child subreaper) rather than
// being the zygote's child.
//
// The children only _exit or become the worker: no destructor of this frame
// runs in them, so they close what they must not keep by hand.
absl::StatusOr<pid_t> ForkWorker(
    int channel, int worker_fd,
    const std::function<void(UniqueFd)>& become_worker) {
  AOTI_ASSIGN_OR_RETURN(auto pid_pipe, MakePipe());
  auto& [pid_in, pid_out] = pid_pipe;
  const pid_t middle = fork();
  if (middle < 0) return absl::ErrnoToStatus(errno, "fork");
  if (middle == 0) {
    close(pid_in.get());
    const pid_t worker = fork();
    if (worker == 0) {
      close(pid_out.get());
      // The worker's channel on fd 3, where a spawned worker has it; this
      // replaces the zygote's own channel there.
      if (worker_fd != 3) {
        if (dup2(worker_fd, 3) < 0) _exit(1);
        close(worker_fd);
      }
      if (channel != 3) close(channel);
      become_worker(UniqueFd(3));
      _exit(1);  // become_worker does not return
    }
    const int64_t reported = worker;  // -1 if that fork failed
    (void)!write(pid_out.get(), &reported, sizeof(reported));
    _exit(0);
  }
  pid_out.reset();
  int64_t worker = -1;
  ssize_t got;
  do {
    got = read(pid_in.get(), &worker, sizeof(worker));
  } while (got < 0 && errno == EINTR);
  WaitForPid(middle);  // after it, the worker is the daemon's child
  if (got != static_cast<ssize_t>(sizeof(worker)) || worker <= 0) {
    return absl::InternalError("the zygote could not fork a worker");
  }
  return static_cast<pid_t>(worker);
}

}  // namespace

absl::StatusOr<std::unique_ptr<WorkerZygote>> WorkerZygote::Start(
    const std::vector<std::string>& argv, absl::Duration timeout) {
  // Workers forked by the zygote's middle process become our children.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return absl::ErrnoToStatus(errno, "prctl(PR_SET_CHILD_SUBREAPER)");
  }
  AOTI_ASSIGN_OR_RETURN(auto ends, MakeSocketPair(SOCK_SEQPACKET));
  auto [channel, child_end] = std::move(ends);
  absl::StatusOr<pid_t> pid = SpawnProcess(argv, child_end.get());
  child_end.reset();  // the zygote has its own copy now
  if (!pid.ok()) return pid.status();
  const int socket = channel.get();
  std::unique_ptr<WorkerZygote> zygote(
      new WorkerZygote(*pid, std::move(channel)));
  auto ready = ReceivePacket(socket, kMaxPacket, absl::Now() + timeout);
  if (ready.ok() && ready->bytes == kReady) return zygote;
  std::string why = !ready.ok() ? std::string(ready.status().message())
                    : !ready->bytes.empty() && ready->bytes[0] == kError
                        ? ready->bytes.substr(1)
                        : "it sent no ready message";
  return absl::UnavailableError(
      absl::StrCat("the worker zygote (pid ", *pid, ") did not start: ", why));
}

WorkerZygote::~WorkerZygote() {
  shutdown(channel_.get(), SHUT_RDWR);  // the zygote reads EOF and exits
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      kill(pid_, SIGKILL);
      WaitForPid(pid_);
      return;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
}

absl::StatusOr<pid_t> WorkerZygote::Fork(int child_fd) {
  absl::MutexLock lock(&mu_);
  if (absl::Status sent =
          SendPacket(channel_.get(), kFork, sizeof(kFork) - 1, child_fd);
      !sent.ok()) {
    return sent;
  }
  auto reply =
      ReceivePacket(channel_.get(), kMaxPacket, absl::Now() + kForkTimeout);
  if (!reply.ok()) return reply.status();
  if (!reply->bytes.empty() && reply->bytes[0] == kError) {
    return absl::InternalError(reply->bytes.substr(1));
  }
  int64_t pid = 0;
  if (!absl::SimpleAtoi(reply->bytes, &pid) || pid <= 0) {
    return absl::InternalError(
        absl::StrCat("the worker zygote replied '", reply->bytes, "'"));
  }
  return static_cast<pid_t>(pid);
}

int WorkerZygote::Serve(int channel,
                        const std::function<void(UniqueFd)>& become_worker) {
  // fork() copies only the calling thread: a thread that an op library
  // started at load would be missing in every worker, with whatever locks
  // it held.
  if (const size_t threads = ThreadCount(); threads != 1) {
    const std::string refusal = absl::StrCat(
        std::string(1, kError), "it has ", threads,
        " threads after loading the op libraries, and forking a process "
        "with threads is unsafe");
    (void)SendPacket(channel, refusal.data(), refusal.size());
    return 1;
  }
  if (!SendPacket(channel, kReady, sizeof(kReady) - 1).ok()) return 1;
  while (true) {
    auto request = ReceivePacket(channel, kMaxPacket);
    if (!request.ok()) return absl::IsUnavailable(request.status()) ? 0 : 1;
    std::string reply;
    if (request->bytes != kFork || !request->fd.valid()) {
      reply = absl::StrCat(std::string(1, kError),
                           "a fork request needs the worker's channel");
    } else {
      auto pid = ForkWorker(channel, request->fd.get(), become_worker);
      reply = pid.ok() ? absl::StrCat(*pid)
                       : absl::StrCat(std::string(1, kError),
                                      pid.status().message());
    }
    request->fd.reset();
    if (!SendPacket(channel, reply.data(), reply.size()).ok()) return 1;
  }
}

ZygoteLauncher::ZygoteLauncher(std::vector<std::string> worker_argv,
                               absl::Duration start_timeout)
    : worker_argv_(std::move(worker_argv)), start_timeout_(start_timeout) {}

absl::StatusOr<pid_t> ZygoteLauncher::Spawn(
    const std::vector<std::string>& argv, int child_fd) {
  if (argv != worker_argv_) return Real()->Spawn(argv, child_fd);
  absl::MutexLock lock(&mu_);
  if (zygote_ == nullptr && absl::Now() >= next_start_) {
    std::vector<std::string> zygote_argv = worker_argv_;
    zygote_argv.push_back("--worker-zygote=true");
    auto started = WorkerZygote::Start(zygote_argv, start_timeout_);
    if (started.ok()) {
      zygote_ = *std::move(started);
      spdlog::info("worker zygote pid {} started", zygote_->pid());
    } else {
      spdlog::warn("{}; starting workers from the binary",
                   started.status().ToString());
      next_start_ = absl::Now() + kRestartDelay;
    }
  }
  if (zygote_ != nullptr) {
    absl::StatusOr<pid_t> forked = zygote_->Fork(child_fd);
    if (forked.ok()) return forked;
    spdlog::warn(
        "the worker zygote pid {} failed to fork a worker: {}; starting "
        "workers from the binary",
        zygote_->pid(), forked.status().ToString());
    zygote_.reset();  // kills it if it lingers
    next_start_ = absl::Now() + kRestartDelay;
  }
  return Real()->Spawn(argv, child_fd);
}

absl::Status ZygoteLauncher::Kill(pid_t pid, int signal) {
  return Real()->Kill(pid, signal);
}

absl::StatusOr<std::optional<int>> ZygoteLauncher::TryWait(pid_t pid) {
  return Real()->TryWait(pid);
}

absl::StatusOr<int> ZygoteLauncher::Wait(pid_t pid) {
  return Real()->Wait(pid);
}

std::optional<pid_t> ZygoteLauncher::zygote_pid() {
  absl::MutexLock lock(&mu_);
  if (zygote_ == nullptr) return std::nullopt;
  return zygote_->pid();
}

}  // namespace aoti_executor
