#include "server/workers/crash_tracker.h"

#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/log_context.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

void CrashTracker::Expire(Entry& entry, absl::Time now) const {
  while (!entry.crashes.empty() && entry.crashes.front() <= now - window_) {
    entry.crashes.pop_front();
  }
}

void CrashTracker::RecordCrash(const std::string& kernel_set_hash,
                               int64_t node_index,
                               const std::string& description,
                               const absl::Status& error, absl::Time now) {
  absl::MutexLock lock(&mu_);
  Entry& entry = entries_[{kernel_set_hash, node_index}];
  Expire(entry, now);
  entry.description = description;
  entry.crashes.push_back(now);
  entry.last_error = std::string(error.message());
  // Logged once, as the node enters quarantine: its calls fail fast from now
  // on, so it cannot crash again until it leaves.
  if (static_cast<int>(entry.crashes.size()) == max_crashes_) {
    // The op, from the description's "extern node 3 'buf3' (ns::op)".
    absl::string_view op = description;
    if (const size_t open = op.rfind(" (");
        open != absl::string_view::npos && absl::EndsWith(op, ")")) {
      op = op.substr(open + 2, op.size() - open - 3);
    }
    const LogContext context({{"event", "node_quarantined"},
                              {"node", node_index},
                              {"op", op},
                              {"kernel_set", kernel_set_hash}});
    spdlog::warn(
        "{} is quarantined: it crashed or hung its worker {} times within {}; "
        "the latest: {}",
        description, max_crashes_, absl::FormatDuration(window_),
        entry.last_error);
  }
}

absl::Status CrashTracker::CheckAllowed(const std::string& kernel_set_hash,
                                        int64_t node_index, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find({kernel_set_hash, node_index});
  if (it == entries_.end()) return absl::OkStatus();
  Entry& entry = it->second;
  Expire(entry, now);
  if (entry.crashes.empty()) {
    entries_.erase(it);
    return absl::OkStatus();
  }
  if (static_cast<int>(entry.crashes.size()) < max_crashes_)
    return absl::OkStatus();
  // The window slides: the node is tried again once fewer than max_crashes_
  // of its crashes lie in it, when the oldest of the last max_crashes_ leaves.
  const absl::Duration left =
      entry.crashes[entry.crashes.size() - max_crashes_] + window_ - now;
  return absl::FailedPreconditionError(absl::StrCat(
      entry.description, " is quarantined: it crashed or hung its worker ",
      entry.crashes.size(), " times in the last ",
      absl::FormatDuration(window_), " (latest: ", entry.last_error,
      "); it will be tried again in ",
      absl::FormatDuration(absl::Trunc(left, absl::Seconds(1))),
      ", or sooner if an operator clears the quarantine"));
}

bool CrashTracker::AnyQuarantined(const std::string& kernel_set_hash,
                                  absl::Time now) {
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.lower_bound({kernel_set_hash, INT64_MIN});
       it != entries_.end() && it->first.first == kernel_set_hash; ++it) {
    Expire(it->second, now);
    if (static_cast<int>(it->second.crashes.size()) >= max_crashes_) {
      return true;
    }
  }
  return false;
}

int CrashTracker::Clear(absl::Time now) {
  absl::MutexLock lock(&mu_);
  int quarantined = 0;
  for (auto& [key, entry] : entries_) {
    Expire(entry, now);
    if (static_cast<int>(entry.crashes.size()) >= max_crashes_) ++quarantined;
  }
  entries_.clear();
  return quarantined;
}

std::vector<CrashTracker::NodeRecord> CrashTracker::Snapshot(absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::vector<NodeRecord> records;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Expire(it->second, now);
    if (it->second.crashes.empty()) {
      it = entries_.erase(it);
      continue;
    }
    NodeRecord record;
    record.kernel_set_hash = it->first.first;
    record.node_index = it->first.second;
    record.description = it->second.description;
    record.crashes_in_window = static_cast<int>(it->second.crashes.size());
    record.quarantined = record.crashes_in_window >= max_crashes_;
    record.last_error = it->second.last_error;
    records.push_back(std::move(record));
    ++it;
  }
  return records;
}

}  // namespace aoti_executor
