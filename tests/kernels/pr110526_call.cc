#include "tests/kernels/pr110526_call.h"

#include <c10/core/Device.h>

#include "tests/ops/record.h"

namespace aoti_executor {
namespace kernel_test {

std::vector<int64_t> Pr110526Call::ints() const {
  return {42, 16, 17,      s0 + s1, s0 + s1, s2 * s3, 45, 67,
          16, 17, s2 * s3, s2 * s3, s0 + s1, 89,      910};
}

std::vector<at::Tensor> Pr110526Call::inputs() const {
  return {arg0_1, arg0_1, arg1_1, buf2, arg0_1, arg1_1};
}

at::Tensor Pr110526Call::ExpectedRecord() const {
  using aoti_test::kTagFloat;
  using aoti_test::kTagInt;
  aoti_test::Record expected;
  expected.Add(15);                                          // tensor
  expected.Add(2).Add(15).Add(12);                           // tensors
  expected.Add(2).AddNone().Add(1);                          // optional_tensors
  expected.AddBool(false);                                   // b8
  expected.Add(2).AddBool(true).AddBool(false);              // b8s
  expected.Add(42);                                          // i64
  expected.AddList(std::vector<int64_t>{16, 17});            // i64s
  expected.Add(s0 + s1);                                     // symint
  expected.AddList(std::vector<int64_t>{s0 + s1, s2 * s3});  // symints
  expected.Add(1.5);                                         // f64
  expected.AddList(std::vector<double>{2.25, -3.5});         // f64s
  expected.Add(kTagFloat).Add(1.23);                         // scalar
  expected.Add(2).Add(kTagInt).Add(45);                      // scalars
  expected.Add(kTagInt).Add(67);
  expected.AddString("hello");                               // string
  expected.Add(2).AddString("ab").AddString("cde");          // strings
  expected.Add(static_cast<double>(c10::kCPU)).Add(-1);      // device
  expected.AddNone();                                        // o_tensor
  expected.Add(2).Add(15).Add(12);                           // o_tensors
  expected.AddBool(true);                                    // o_b8
  expected.Add(1).AddBool(false);                            // o_b8s
  expected.AddNone();                                        // o_i64
  expected.AddList(std::vector<int64_t>{16, 17});            // o_i64s
  expected.Add(s2 * s3);                                     // o_symint
  expected.AddList(std::vector<int64_t>{s2 * s3, s0 + s1});  // o_symints
  expected.Add(4.75);                                        // o_f64
  expected.AddNone();                                        // o_f64s
  expected.AddNone();                                        // o_scalar
  expected.Add(2).Add(kTagInt).Add(89);                      // o_scalars
  expected.Add(kTagInt).Add(910);
  expected.AddString("opt");       // o_string
  expected.Add(1).AddString("x");  // o_strings
  expected.AddNone();              // o_device
  return expected.ToTensor();
}

}  // namespace kernel_test
}  // namespace aoti_executor
