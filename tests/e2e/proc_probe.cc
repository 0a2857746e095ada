#include "tests/e2e/proc_probe.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace e2e {
namespace {

std::string ProcPath(pid_t pid, const char* what) {
  return absl::StrCat("/proc/", pid, "/", what);
}

// Names in `path` other than "." and ".."; nullopt if it cannot be opened.
absl::optional<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return absl::nullopt;
  std::vector<std::string> names;
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  return names;
}

}  // namespace

int CountFds(pid_t pid) {
  const auto names = ListDir(ProcPath(pid, "fd"));
  if (!names.has_value()) return -1;
  // Reading our own fd directory opens one more.
  return static_cast<int>(names->size()) - (pid == getpid() ? 1 : 0);
}

std::map<int, std::string> FdTargets(pid_t pid) {
  std::map<int, std::string> targets;
  const std::string dir = ProcPath(pid, "fd");
  for (const std::string& name :
       ListDir(dir).value_or(std::vector<std::string>())) {
    int fd = 0;
    if (!absl::SimpleAtoi(name, &fd)) continue;
    char target[4096];
    const ssize_t n = readlink(absl::StrCat(dir, "/", name).c_str(), target,
                               sizeof(target) - 1);
    if (n >= 0) targets[fd] = std::string(target, static_cast<size_t>(n));
  }
  return targets;
}

int CountThreads(pid_t pid) {
  const auto names = ListDir(ProcPath(pid, "task"));
  return names.has_value() ? static_cast<int>(names->size()) : -1;
}

int CountMemfdMappings(pid_t pid) {
  std::ifstream maps(ProcPath(pid, "maps"));
  if (!maps) return -1;
  int count = 0;
  for (std::string line; std::getline(maps, line);) {
    if (absl::StrContains(line, "memfd:")) ++count;
  }
  return count;
}

int64_t ResidentKib(pid_t pid) {
  std::ifstream status(ProcPath(pid, "status"));
  for (std::string line; std::getline(status, line);) {
    if (absl::StartsWith(line, "VmRSS:")) {
      std::istringstream fields(line.substr(6));
      int64_t kib = -1;
      fields >> kib;
      return kib;
    }
  }
  return -1;
}

absl::optional<ProcessInfo> ReadProcess(pid_t pid) {
  std::ifstream stat_file(ProcPath(pid, "stat"));
  std::string stat;
  if (!std::getline(stat_file, stat)) return absl::nullopt;
  // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return absl::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  ProcessInfo info;
  info.pid = pid;
  const size_t open = stat.find('(');
  if (open != std::string::npos && open < close) {
    info.comm = stat.substr(open + 1, close - open - 1);
  }
  rest >> info.state >> info.ppid;
  if (!rest) return absl::nullopt;
  std::ifstream cmdline(ProcPath(pid, "cmdline"), std::ios::binary);
  for (std::string arg; std::getline(cmdline, arg, '\0');) {
    info.argv.push_back(arg);
  }
  return info;
}

std::vector<ProcessInfo> AllProcesses() {
  std::vector<ProcessInfo> processes;
  for (const std::string& name :
       ListDir("/proc").value_or(std::vector<std::string>())) {
    int pid = 0;
    if (!absl::SimpleAtoi(name, &pid)) continue;
    if (auto info = ReadProcess(pid)) processes.push_back(*std::move(info));
  }
  return processes;
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  // By each process's parent in /proc/PID/stat, not by the parent's
  // /proc/PID/task/*/children: those list children per thread, and a thread
  // that exits mid-scan hands its children to one already read.
  std::vector<pid_t> children;
  for (const ProcessInfo& info : AllProcesses()) {
    if (info.ppid == pid) children.push_back(info.pid);
  }
  return children;
}

bool IsWorker(const ProcessInfo& info) {
  if (IsZygote(info)) return false;
  for (const std::string& arg : info.argv) {
    if (absl::StartsWith(arg, "--worker-fd")) return true;
  }
  return false;
}

bool IsZygote(const ProcessInfo& info) { return info.comm == "aoti-zygote"; }

std::set<std::string> DevShmEntries() {
  const auto names = ListDir("/dev/shm");
  return names.has_value() ? std::set<std::string>(names->begin(), names->end())
                           : std::set<std::string>();
}

}  // namespace e2e
}  // namespace aoti_executor
