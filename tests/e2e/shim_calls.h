// Calling the shim's C ABI the way AOTI's generated code does (output
// handles are undefined at::Tensors, flat arrays in call-site order), and a
// mix of calls checked against ATen in-process, for the end-to-end tests and
// their client processes. Needs only the C header and ATen.
#ifndef AOTI_EXECUTOR_TESTS_E2E_SHIM_CALLS_H_
#define AOTI_EXECUTOR_TESTS_E2E_SHIM_CALLS_H_

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "aoti_remote/executor.h"

namespace aoti_executor {
namespace e2e {

// Node indices of tests/fixtures/aten_ops.json.
enum AtenNode : int {
  kAdd = 0,       // add.Tensor(self, other)
  kAddAlpha = 1,  // add.Tensor(self, other, alpha=<int>)
  kCat = 4,       // cat([a, b, c], dim=<int>)
  kRepeat = 5,    // repeat(self, [<int>, <int>])
  kTopk = 6,  // topk(self, <int>, <int>, largest=False) -> (values, indices)
  kPermute = 10,  // permute(self, []): a view of a 0-dim tensor
  kNumAtenNodes = 14,
};

// Node indices of tests/fixtures/custom_ops.json.
enum CustomNode : int {
  kDefaultInput = 2,   // fn_with_default_input(t, i=<int>) -> t * i
  kTupleOutput = 3,    // fn_with_tuple_output(t, <int>) -> (t + i, t * i)
  kInputMutation = 6,  // fn_with_input_mutation(t0(a!), t1, t2(b!))
  kIntOutput = 10,     // fn_with_int_output(t1, t2, i) -> (.., int, int)
  kAlwaysThrows = 35,  // always_throws(x): TORCH_CHECK fails
  kThrowsNonStd = 36,  // throws_non_std(x): throw 42
};

inline std::string LastError() { return aoti_remote_last_error(); }

// aoti_remote_executor_call_function with the handles of `tensors` (inputs,
// then outputs).
inline AOTITorchError CallNode(AOTIProxyExecutorHandle executor, int node,
                               std::vector<int64_t> ints,
                               const std::vector<at::Tensor*>& tensors) {
  std::vector<AtenTensorHandle> handles;
  for (at::Tensor* tensor : tensors) {
    handles.push_back(reinterpret_cast<AtenTensorHandle>(tensor));
  }
  return aoti_remote_executor_call_function(
      executor, node, static_cast<int>(ints.size()), ints.data(),
      static_cast<int>(handles.size()), handles.data());
}

// Same dtype, sizes and values.
inline bool Same(const at::Tensor& actual, const at::Tensor& expected) {
  return actual.defined() && actual.scalar_type() == expected.scalar_type() &&
         actual.sizes() == expected.sizes() && at::equal(actual, expected);
}

// One add.Tensor of ten small floats (times `scale`) through `executor`,
// checked against ATen. Small: ATen's OpenMP pool is not used, so it also
// runs in a forked child.
inline bool AddsRight(AOTIProxyExecutorHandle executor, float scale = 1) {
  at::Tensor x = at::arange(10, at::kFloat) * scale, out;
  return CallNode(executor, kAdd, {}, {&x, &x, &out}) == AOTI_TORCH_SUCCESS &&
         Same(out, x * 2);
}

enum class Outcome {
  kOk,      // the call succeeded and every output equals ATen's
  kFailed,  // the call returned AOTI_TORCH_FAILURE
  kWrong,   // the call succeeded with a wrong result
};

// Call `i` of a mix (add.Tensor, add.Tensor with an int alpha on the output
// of an earlier call, sent by reference, cat, topk with two outputs) on
// tensors made from `seed` and `i`, through the aten_ops.json executor,
// checked against ATen in-process. Unless kOk, `error` says what went wrong.
// `carried` holds an output from one call to the next (start it as any
// float tensor).
inline Outcome MixedCallOutcome(AOTIProxyExecutorHandle executor, int seed,
                                int i, at::Tensor* carried,
                                std::string* error) {
  const int64_t n = 1 + (seed * 131 + i * 17) % 3000;
  at::Tensor a = at::arange(n, at::kFloat) * seed + i;
  at::Tensor b = at::full({n}, static_cast<double>(seed - i), at::kFloat);
  AOTITorchError rc = AOTI_TORCH_FAILURE;
  bool same = false;
  switch (i % 4) {
    case 0: {
      at::Tensor out;
      rc = CallNode(executor, kAdd, {}, {&a, &b, &out});
      same = Same(out, a + b);
      if (same) *carried = out;
      break;
    }
    case 1: {
      at::Tensor other = at::full(carried->sizes(), i, at::kFloat);
      const at::Tensor before = carried->clone();
      at::Tensor out;
      rc = CallNode(executor, kAddAlpha, {seed}, {carried, &other, &out});
      same = Same(out, at::add(before, other, seed));
      break;
    }
    case 2: {
      at::Tensor c = at::ones({n}, at::kFloat) * i;
      at::Tensor out;
      rc = CallNode(executor, kCat, {0}, {&a, &b, &c, &out});
      same = Same(out, at::cat({a, b, c}, 0));
      break;
    }
    default: {
      at::Tensor x = a.reshape({1, n}).flip(1);
      const int64_t k = std::min<int64_t>(n, 5);
      const auto expected = at::topk(x, k, 1, /*largest=*/false);
      at::Tensor values, indices;
      rc = CallNode(executor, kTopk, {k, 1}, {&x, &values, &indices});
      same = Same(values, std::get<0>(expected)) &&
             Same(indices, std::get<1>(expected));
      break;
    }
  }
  const std::string which =
      "seed " + std::to_string(seed) + ", call " + std::to_string(i) + ": ";
  if (rc != AOTI_TORCH_SUCCESS) {
    *error = which + aoti_remote_last_error();
    return Outcome::kFailed;
  }
  if (!same) {
    *error = which + "wrong result";
    return Outcome::kWrong;
  }
  return Outcome::kOk;
}

// MixedCallOutcome(...) == Outcome::kOk.
inline bool MixedCall(AOTIProxyExecutorHandle executor, int seed, int i,
                      at::Tensor* carried, std::string* error) {
  return MixedCallOutcome(executor, seed, i, carried, error) == Outcome::kOk;
}

}  // namespace e2e
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_E2E_SHIM_CALLS_H_
