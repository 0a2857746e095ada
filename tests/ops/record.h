// A "record": argument values flattened into a 1-D float64 tensor.
//
// The record ops of //tests/ops:libaoti_test_ops.so return one, so a test can
// check exactly which values reached the kernel, in which order, with which
// type. Tests build the expected record with the same small vocabulary.
#ifndef AOTI_EXECUTOR_TESTS_OPS_RECORD_H_
#define AOTI_EXECUTOR_TESTS_OPS_RECORD_H_

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace aoti_test {

// Stands for an absent optional (or a None element of a Tensor?[]).
constexpr double kNone = -1e6;

// Type tags written before a Scalar's or an Any's value.
enum Tag : int {
  kTagInt = 1,
  kTagFloat = 2,
  kTagBool = 3,
  kTagString = 4,
  kTagTensor = 5,
  kTagNone = 6,
};

class Record {
 public:
  Record& Add(double value) {
    values_.push_back(value);
    return *this;
  }
  Record& AddBool(bool value) { return Add(value ? 1.0 : 0.0); }
  Record& AddNone() { return Add(kNone); }
  // Its length, then one character code per byte.
  Record& AddString(const std::string& value) {
    Add(static_cast<double>(value.size()));
    for (unsigned char c : value) Add(c);
    return *this;
  }
  // A tensor is identified by the sum of its elements: tests give every
  // input tensor a distinct sum.
  Record& AddTensor(const at::Tensor& tensor) {
    return Add(tensor.sum().item<double>());
  }
  // Its length, then each element.
  template <typename T>
  Record& AddList(const std::vector<T>& values) {
    Add(static_cast<double>(values.size()));
    for (const T& value : values) Add(static_cast<double>(value));
    return *this;
  }

  const std::vector<double>& values() const { return values_; }
  at::Tensor ToTensor() const {
    return at::tensor(values_, at::TensorOptions().dtype(at::kDouble));
  }

 private:
  std::vector<double> values_;
};

}  // namespace aoti_test

#endif  // AOTI_EXECUTOR_TESTS_OPS_RECORD_H_
