// What the benchmarks read from /proc about the machine and about other
// processes: the CPU model, the load average, a process's threads, children
// and page faults.
#ifndef AOTI_EXECUTOR_BENCH_PROC_FACTS_H_
#define AOTI_EXECUTOR_BENCH_PROC_FACTS_H_

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"

namespace aoti_executor {

inline std::string ReadFirstLine(const std::string& path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return line;
}

inline std::string CpuModel() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

// /proc/PID/task/TID of each thread of `pid`.
inline std::vector<std::string> TaskDirs(pid_t pid) {
  std::vector<std::string> dirs;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(
           absl::StrCat("/proc/", pid, "/task"), error)) {
    dirs.push_back(entry.path().string());
  }
  return dirs;
}

// The children of every thread of `pid` (the daemon's workers and zygote).
inline std::vector<pid_t> ChildProcesses(pid_t pid) {
  std::vector<pid_t> children;
  for (const std::string& dir : TaskDirs(pid)) {
    std::ifstream list(dir + "/children");
    pid_t child;
    while (list >> child) children.push_back(child);
  }
  return children;
}

// Minor page faults of the whole process (exited threads included).
inline int64_t MinorFaults(pid_t pid) {
  std::ifstream file(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(file)),
                   std::istreambuf_iterator<char>());
  const size_t name_end = stat.rfind(')');
  if (name_end == std::string::npos) return 0;
  // After "pid (comm)": state ppid pgrp session tty_nr tpgid flags minflt.
  std::istringstream fields(stat.substr(name_end + 1));
  std::string skip;
  for (int i = 0; i < 7; ++i) fields >> skip;
  int64_t minflt = 0;
  fields >> minflt;
  return minflt;
}

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_BENCH_PROC_FACTS_H_
