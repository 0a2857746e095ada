// PyTorch PR #110526's call of aoti_test::fn_with_all_inputs (from PyTorch's
// own AOTI custom-op tests), stated once for the engine suites and the
// end-to-end model test:
//   aoti_torch_proxy_executor_call_function(proxy_executor, 0, 15,
//       {42, 16, 17, s0 + s1, s0 + s1, s2*s3, 45, 67, 16, 17, s2*s3, s2*s3,
//        s0 + s1, 89, 910}, 7,
//       {arg0_1, arg0_1, arg1_1, buf2, arg0_1, arg1_1, buf4});
// against node 0 ("buf4") of tests/fixtures/custom_ops.json.
#ifndef AOTI_EXECUTOR_TESTS_KERNELS_PR110526_CALL_H_
#define AOTI_EXECUTOR_TESTS_KERNELS_PR110526_CALL_H_

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace aoti_executor {
namespace kernel_test {

struct Pr110526Call {
  // The model's symbolic sizes at run time.
  static constexpr int64_t s0 = 3, s1 = 4, s2 = 2, s3 = 5;

  // Distinct sums (15, 12, 1), so the record tells them apart.
  at::Tensor arg0_1 = at::arange(6, at::kFloat).reshape({2, 3});
  at::Tensor arg1_1 = at::full({2, 3}, 2.0, at::kFloat);
  at::Tensor buf2 = at::full({4}, 0.25, at::kFloat);

  // The 15 ints, in the call's order.
  std::vector<int64_t> ints() const;
  // The 6 input tensors (buf4, the 7th handle, is the output).
  std::vector<at::Tensor> inputs() const;
  // What the kernel must receive, argument by argument in schema order, as
  // the record fn_with_all_inputs returns (tests/ops/record.h).
  at::Tensor ExpectedRecord() const;
};

}  // namespace kernel_test
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_KERNELS_PR110526_CALL_H_
