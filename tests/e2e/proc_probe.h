// What /proc and /dev/shm say about a process: its file descriptors, threads,
// memfd mappings, resident memory and children. The hygiene test and the
// crash soak read the client and the daemon with it.
#ifndef AOTI_EXECUTOR_TESTS_E2E_PROC_PROBE_H_
#define AOTI_EXECUTOR_TESTS_E2E_PROC_PROBE_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/types/optional.h"

namespace aoti_executor {
namespace e2e {

// Open file descriptors of `pid` (/proc/PID/fd); -1 if it cannot be read.
// For the calling process, the descriptor used to read the directory is not
// counted.
int CountFds(pid_t pid);
// What each open descriptor of `pid` refers to, by number, as
// /proc/PID/fd/N reads ("/memfd:name (deleted)", "socket:[123]", ...).
std::map<int, std::string> FdTargets(pid_t pid);
// Threads of `pid` (/proc/PID/task); -1 if it cannot be read.
int CountThreads(pid_t pid);
// Mappings of memfds in /proc/PID/maps (lines naming "memfd:"); -1 if it
// cannot be read.
int CountMemfdMappings(pid_t pid);
// VmRSS of `pid` in KiB; -1 if it cannot be read.
int64_t ResidentKib(pid_t pid);

// One process as /proc/PID/stat, status and cmdline describe it.
struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';               // R, S, D, Z, ...
  std::string comm;               // the name: "aoti-executord"
  std::vector<std::string> argv;  // empty for a zombie
};

// absl::nullopt if `pid` does not exist (any more).
absl::optional<ProcessInfo> ReadProcess(pid_t pid);
// Every process /proc lists now.
std::vector<ProcessInfo> AllProcesses();
// Children of `pid`: every process whose parent it is (zombies included).
std::vector<pid_t> ChildrenOf(pid_t pid);
// True if `info` is an aoti-executord worker (its argv has --worker-fd), not
// the worker zygote.
bool IsWorker(const ProcessInfo& info);
// True if `info` is the daemon's worker zygote (named "aoti-zygote"; the
// workers it forks share its argv).
bool IsZygote(const ProcessInfo& info);

// Names in /dev/shm.
std::set<std::string> DevShmEntries();

}  // namespace e2e
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_E2E_PROC_PROBE_H_
