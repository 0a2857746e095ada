// Fuzzes the extern-kernel JSON loader, which parses what a client sends in
// RegisterKernelSet: KernelSet::Parse (rapidjson, the span recorder, every
// argument and return kind bound through the dispatcher) and, as a worker
// does on first call, KernelSet::ParseNode and LazyKernelSet::Find over the
// node spans the parse recorded.
//
// Input: the JSON text. Checked, for a set that parses: one span per node,
// each inside the text and from its '{' to its '}'; each node resolves again
// from its span alone, to the same op (what a worker relies on); and the
// lazy set finds every node and refuses indices out of range.
#include <c10/core/Device.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/kernels/kernel_set.h"
#include "server/kernels/lazy_kernel_set.h"
#include "tests/fuzz/fuzz_runfiles.h"
#include "tests/fuzz/fuzz_util.h"

namespace aoti_executor {
namespace fuzz {
namespace {

const c10::Device kCpu(c10::kCPU);

void CheckSpans(const KernelSet& set, absl::string_view json) {
  const std::vector<NodeSpan>& spans = set.node_spans();
  FUZZ_CHECK(spans.size() == set.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    const NodeSpan& span = spans[i];
    FUZZ_CHECK(span.offset <= json.size());
    FUZZ_CHECK(span.size >= 2 && span.size <= json.size() - span.offset);
    FUZZ_CHECK(json[span.offset] == '{');
    FUZZ_CHECK(json[span.offset + span.size - 1] == '}');
    auto alone = KernelSet::ParseNode(json.substr(span.offset, span.size),
                                      static_cast<int>(i), kCpu);
    FUZZ_CHECK(alone.ok());
    FUZZ_CHECK(alone->target() ==
               (*set.Find(static_cast<int64_t>(i)))->target());
  }
}

void CheckLazy(const KernelSet& set, absl::string_view json) {
  // The worker's copy: the text owned apart from the daemon's.
  auto text = std::make_shared<const std::string>(json);
  LazyKernelSet lazy(text, *text, set.node_spans(), kCpu);
  FUZZ_CHECK(lazy.size() == set.size());
  for (size_t i = 0; i < lazy.size(); ++i) {
    FUZZ_CHECK(lazy.Find(static_cast<int64_t>(i)).ok());
  }
  FUZZ_CHECK(!lazy.Find(-1).ok());
  FUZZ_CHECK(!lazy.Find(static_cast<int64_t>(lazy.size())).ok());
}

}  // namespace
}  // namespace fuzz
}  // namespace aoti_executor

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** argv) {
  aoti_executor::fuzz::SetUpKernels((*argv)[0]);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aoti_executor;
  using namespace aoti_executor::fuzz;
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  auto set = KernelSet::Parse(json, kCpu);
  if (set.ok()) {
    CheckSpans(*set, json);
    CheckLazy(*set, json);
  }
  // A worker only parses spans the daemon recorded, but any text must be
  // refused cleanly there too.
  (void)KernelSet::ParseNode(json, 0, kCpu);
  return 0;
}
