// Workers forked from the zygote: they are this process's children (it
// reaps and signals them like spawned ones), they serve, a dead zygote
// costs nothing but speed (workers are spawned from the binary again), and
// a command line the zygote was not started for is spawned as it is.
#include "server/workers/worker_zygote.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/common/daemon_stats.h"
#include "server/workers/worker.h"

namespace aoti_executor {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(60);

std::string RunfilePath(const std::string& relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return relative;
  return absl::StrCat(srcdir, "/", workspace, "/", relative);
}

struct ProcFacts {
  pid_t ppid = 0;
  std::string comm;
  std::vector<std::string> argv;
};

ProcFacts Facts(pid_t pid) {
  ProcFacts facts;
  std::ifstream stat_file(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  std::getline(stat_file, stat);
  const size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return facts;
  facts.comm = stat.substr(open + 1, close - open - 1);
  std::vector<std::string> rest = absl::StrSplit(stat.substr(close + 2), ' ');
  if (rest.size() > 1) facts.ppid = std::atoi(rest[1].c_str());
  std::ifstream cmdline(absl::StrCat("/proc/", pid, "/cmdline"),
                        std::ios::binary);
  for (std::string arg; std::getline(cmdline, arg, '\0');) {
    facts.argv.push_back(arg);
  }
  return facts;
}

bool Has(const std::vector<std::string>& argv, const std::string& arg) {
  for (const std::string& a : argv) {
    if (a == arg) return true;
  }
  return false;
}

class WorkerZygoteTest : public testing::Test {
 protected:
  WorkerOptions Options() {
    WorkerOptions options;
    options.binary = RunfilePath("server/aoti-executord");
    options.libraries = {RunfilePath("tests/workers/libworker_test_ops.so")};
    options.log_level = "warn";
    options.start_timeout = kPatience;
    options.stats = &stats_;
    options.launcher = &launcher_;
    return options;
  }

  absl::StatusOr<std::unique_ptr<Worker>> Start(uint64_t region_id_base = 0) {
    return Worker::Start(Options(), region_id_base,
                         [](uint64_t, uint64_t, UniqueFd) {});
  }

  DaemonStats stats_;
  ZygoteLauncher launcher_{WorkerArgv(Options(), 0), kPatience};
};

TEST_F(WorkerZygoteTest, ForkedWorkersAreOurChildrenAndTheZygoteIsNot) {
  auto first = Start();
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Start();
  ASSERT_TRUE(second.ok()) << second.status();
  const std::optional<pid_t> zygote = launcher_.zygote_pid();
  ASSERT_TRUE(zygote.has_value());

  const ProcFacts zygote_facts = Facts(*zygote);
  EXPECT_EQ(zygote_facts.comm, "aoti-zygote");
  EXPECT_EQ(zygote_facts.ppid, getpid());
  for (const auto* worker : {&*first, &*second}) {
    const pid_t pid = (*worker)->pid();
    EXPECT_NE(pid, *zygote);
    const ProcFacts facts = Facts(pid);
    // Re-parented to this process, the subreaper: it reaps them.
    EXPECT_EQ(facts.ppid, getpid()) << pid;
    EXPECT_EQ(facts.comm, "aoti-executord") << pid;
    // Forked, not spawned: they share the zygote's command line.
    EXPECT_TRUE(Has(facts.argv, "--worker-zygote=true")) << pid;
    EXPECT_TRUE((*worker)->death().ok());
  }
  EXPECT_NE((*first)->pid(), (*second)->pid());
}

TEST_F(WorkerZygoteTest, AKilledWorkerIsReapedWithItsSignalAndTheZygoteLives) {
  auto worker = Start();
  ASSERT_TRUE(worker.ok()) << worker.status();
  const std::optional<pid_t> zygote = launcher_.zygote_pid();
  ASSERT_TRUE(zygote.has_value());
  (*worker)->Kill("the test kills it");
  const absl::Time give_up = absl::Now() + kPatience;
  while ((*worker)->death().ok() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_FALSE((*worker)->death().ok());
  EXPECT_EQ(kill(*zygote, 0), 0) << "the zygote died with its worker";

  auto next = Start();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(launcher_.zygote_pid(), zygote) << "the same zygote forked it";
}

TEST_F(WorkerZygoteTest, WithItsZygoteGoneWorkersAreSpawnedFromTheBinary) {
  auto worker = Start();
  ASSERT_TRUE(worker.ok()) << worker.status();
  const std::optional<pid_t> zygote = launcher_.zygote_pid();
  ASSERT_TRUE(zygote.has_value());
  ASSERT_EQ(kill(*zygote, SIGKILL), 0);

  auto spawned = Start();
  ASSERT_TRUE(spawned.ok()) << spawned.status();
  EXPECT_FALSE(launcher_.zygote_pid().has_value());
  // Noticed at that spawn, and reaped: no zombie left.
  EXPECT_NE(kill(*zygote, 0), 0);
  const ProcFacts facts = Facts((*spawned)->pid());
  EXPECT_EQ(facts.ppid, getpid());
  EXPECT_FALSE(Has(facts.argv, "--worker-zygote=true"));
  EXPECT_TRUE((*spawned)->death().ok());
  // The worker forked before the zygote died serves on.
  EXPECT_TRUE((*worker)->death().ok());
}

TEST_F(WorkerZygoteTest, AnotherCommandLineIsSpawnedAsItIs) {
  auto worker = Start(/*region_id_base=*/4096);
  ASSERT_TRUE(worker.ok()) << worker.status();
  const ProcFacts facts = Facts((*worker)->pid());
  EXPECT_TRUE(Has(facts.argv, "--region-id-base=4096"));
  EXPECT_FALSE(Has(facts.argv, "--worker-zygote=true"));
  EXPECT_FALSE(launcher_.zygote_pid().has_value()) << "none was needed";
}

TEST(WorkerZygoteRefusalTest, AZygoteWithThreadsRefusesAndWorkersAreSpawned) {
  DaemonStats stats;
  WorkerOptions options;
  options.binary = RunfilePath("server/aoti-executord");
  options.libraries = {RunfilePath("tests/workers/libthread_at_load.so")};
  options.log_level = "warn";
  options.start_timeout = kPatience;
  options.stats = &stats;
  ZygoteLauncher launcher(WorkerArgv(options, 0), kPatience);
  options.launcher = &launcher;

  auto worker = Worker::Start(options, /*region_id_base=*/0,
                              [](uint64_t, uint64_t, UniqueFd) {});
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_FALSE(launcher.zygote_pid().has_value())
      << "a zygote with a library's thread in it must not fork";
  const ProcFacts facts = Facts((*worker)->pid());
  EXPECT_EQ(facts.ppid, getpid());
  EXPECT_FALSE(Has(facts.argv, "--worker-zygote=true"));
  EXPECT_TRUE((*worker)->death().ok());
}

}  // namespace
}  // namespace aoti_executor
