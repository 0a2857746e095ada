#include "server/workers/lane_server.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/lane/futex.h"
#include "server/lane/spin_budget.h"
#include "server/workers/call_result.h"

namespace aoti_executor {

namespace v1 = aoti::executor::v1;
namespace wv1 = aoti::executor::worker::v1;

namespace {

// The longest the worker spins for the next call before it sleeps. AOTI
// models issue extern calls in bursts between generated kernels: the budget
// (SpinBudget) learns the gaps within a burst and spins through those only;
// through gaps longer than this maximum it sleeps at once, rather than spin
// beside the host's own work and pay the wake-up anyway.
constexpr int64_t kSpinNs = 50000;

}  // namespace

LaneServer::LaneServer(CallLane lane, std::shared_ptr<SharedRegion> watch,
                       RunFn run, DiscardFn discard)
    : lane_(std::move(lane)),
      watch_region_(std::move(watch)),
      watch_(reinterpret_cast<CallWatch*>(watch_region_->data())),
      run_(std::move(run)),
      discard_(std::move(discard)),
      thread_([this] { Serve(); }) {}

LaneServer::~LaneServer() {
  stop_ = true;
  lane_.WakeAll();
  thread_.join();
}

void LaneServer::Serve() {
  SpinBudget spin(SpinBudget::MaxForThisMachine(kSpinNs));
  std::string request;
  int64_t deadline_ns = 0;
  while (lane_.TakeRequest(stop_, &spin, &request, &deadline_ns)) {
    Handle(request, deadline_ns);
  }
}

void LaneServer::Handle(const std::string& request_bytes, int64_t deadline_ns) {
  if (watch_->gated.load() != 0) {
    wv1::CallResult refused = FailedCallResult(absl::UnavailableError(
        "the call lane is gated: a node is quarantined"));
    refused.set_refused(true);
    lane_.Answer(refused.SerializeAsString());
    return;
  }
  v1::CallRequest request;
  wv1::CallResult result;
  if (!request.ParseFromString(request_bytes)) {
    result = FailedCallResult(absl::InvalidArgumentError(
        "the request on the call lane does not parse"));
  } else {
    watch_->Begin(request.kernel_set_id(), request.node_index(),
                  MonotonicNanos(), deadline_ns);
    result = run_(request);
    watch_->Finish();
  }
  std::string answer = result.SerializeAsString();
  if (answer.size() > lane_.answer_capacity()) {
    discard_(result.response());
    result = FailedCallResult(absl::ResourceExhaustedError(absl::StrCat(
        "the answer (", result.response().outputs_size(), " outputs, ",
        answer.size(), " bytes) does not fit the call lane's ",
        lane_.answer_capacity(), " bytes")));
    answer = result.SerializeAsString();
  }
  // Counted before the client can see the answer (and so read the
  // daemon's counters); taken back if the client gave up meanwhile, as the
  // daemon counts that call as failed.
  watch_->Count(result.code() == 0, +1);
  if (!lane_.Answer(answer)) {
    watch_->Count(result.code() == 0, -1);
    discard_(result.response());  // nobody will release these outputs
  }
}

}  // namespace aoti_executor
