// libaoti_test_ops.so: the custom ops the extern-kernel engine tests run.
//
// `aoti_test::` holds the schemas of PyTorch's AOTI custom-op tests
// (test/inductor/custom_ops.cpp) with our own simple implementations, and ops
// that cover every argument and return kind the engine supports. "Record" ops
// return the values they received as a float64 tensor (tests/ops/record.h).
//
// Ops whose arguments typed kernels cannot take in libtorch 1.13 (Scalar[],
// Any, NoneType returns) are boxed kernels; they read each argument with
// IValue::to<T>(), the conversion typed unboxing uses, so a wrongly typed
// stack fails here as it would in a typed kernel.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/library.h>

#include <string>
#include <tuple>
#include <vector>

#include "tests/ops/record.h"

namespace aoti_test {
namespace {

using at::Tensor;
using c10::IValue;
using c10::optional;

// ---------------------------------------------------------------------------
// Helpers.

// Reads a boxed kernel's arguments in schema order and replaces them with its
// returns.
class BoxedArgs {
 public:
  BoxedArgs(const c10::OperatorHandle& op, torch::jit::Stack* stack)
      : stack_(stack),
        num_args_(op.schema().arguments().size()),
        first_(stack->size() - num_args_) {}

  template <typename T>
  T Next() {
    return (*stack_)[first_ + next_++].to<T>();
  }
  const IValue& NextIValue() { return (*stack_)[first_ + next_++]; }

  void Return(std::vector<IValue> returns) {
    torch::jit::drop(*stack_, num_args_);
    for (IValue& value : returns) stack_->push_back(std::move(value));
  }

 private:
  torch::jit::Stack* stack_;
  size_t num_args_;
  size_t first_;
  size_t next_ = 0;
};

void AddScalar(Record& record, const at::Scalar& scalar) {
  if (scalar.isBoolean()) {
    record.Add(kTagBool).AddBool(scalar.to<bool>());
  } else if (scalar.isIntegral(/*includeBool=*/false)) {
    record.Add(kTagInt).Add(static_cast<double>(scalar.to<int64_t>()));
  } else {
    record.Add(kTagFloat).Add(scalar.to<double>());
  }
}

void AddScalars(Record& record, const std::vector<at::Scalar>& scalars) {
  record.Add(static_cast<double>(scalars.size()));
  for (const at::Scalar& scalar : scalars) AddScalar(record, scalar);
}

void AddTensors(Record& record, const std::vector<Tensor>& tensors) {
  record.Add(static_cast<double>(tensors.size()));
  for (const Tensor& tensor : tensors) record.AddTensor(tensor);
}

void AddOptionalTensors(Record& record,
                        const c10::List<optional<Tensor>>& tensors) {
  record.Add(static_cast<double>(tensors.size()));
  for (const optional<Tensor>& tensor : tensors) {
    if (tensor.has_value()) {
      record.AddTensor(*tensor);
    } else {
      record.AddNone();
    }
  }
}

void AddBools(Record& record, const c10::List<bool>& values) {
  record.Add(static_cast<double>(values.size()));
  for (bool value : values) record.AddBool(value);
}

void AddStrings(Record& record, const std::vector<std::string>& values) {
  record.Add(static_cast<double>(values.size()));
  for (const std::string& value : values) record.AddString(value);
}

void AddDevice(Record& record, const c10::Device& device) {
  record.Add(static_cast<double>(device.type()))
      .Add(static_cast<double>(device.index()));
}

// Appends `*value` with `add`, or kNone.
template <typename T, typename AddFn>
void AddOptional(Record& record, const optional<T>& value, AddFn add) {
  if (value.has_value()) {
    add(record, *value);
  } else {
    record.AddNone();
  }
}

// ---------------------------------------------------------------------------
// The schemas of PyTorch's test/inductor/custom_ops.cpp.

// Boxed: Scalar[] cannot be a typed kernel argument in libtorch 1.13.
// Records every argument in schema order.
void FnWithAllInputs(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  BoxedArgs args(op, stack);
  Record record;
  record.AddTensor(args.Next<Tensor>());
  AddTensors(record, args.Next<std::vector<Tensor>>());
  AddOptionalTensors(record, args.Next<c10::List<optional<Tensor>>>());
  record.AddBool(args.Next<bool>());
  AddBools(record, args.Next<c10::List<bool>>());
  record.Add(static_cast<double>(args.Next<int64_t>()));
  record.AddList(args.Next<std::vector<int64_t>>());
  record.Add(static_cast<double>(args.Next<int64_t>()));  // symint
  record.AddList(args.Next<std::vector<int64_t>>());      // symints
  record.Add(args.Next<double>());
  record.AddList(args.Next<std::vector<double>>());
  AddScalar(record, args.Next<at::Scalar>());
  AddScalars(record, args.Next<std::vector<at::Scalar>>());
  record.AddString(args.Next<std::string>());
  AddStrings(record, args.Next<std::vector<std::string>>());
  AddDevice(record, args.Next<c10::Device>());
  // Keyword-only optionals.
  AddOptional(record, args.Next<optional<Tensor>>(),
              [](Record& r, const Tensor& t) { r.AddTensor(t); });
  AddOptional(record, args.Next<optional<std::vector<Tensor>>>(), AddTensors);
  AddOptional(record, args.Next<optional<bool>>(),
              [](Record& r, bool b) { r.AddBool(b); });
  AddOptional(record, args.Next<optional<c10::List<bool>>>(), AddBools);
  AddOptional(record, args.Next<optional<int64_t>>(),
              [](Record& r, int64_t i) { r.Add(static_cast<double>(i)); });
  AddOptional(record, args.Next<optional<std::vector<int64_t>>>(),
              [](Record& r, const std::vector<int64_t>& v) { r.AddList(v); });
  AddOptional(record, args.Next<optional<int64_t>>(),  // o_symint
              [](Record& r, int64_t i) { r.Add(static_cast<double>(i)); });
  AddOptional(record, args.Next<optional<std::vector<int64_t>>>(),  // o_symints
              [](Record& r, const std::vector<int64_t>& v) { r.AddList(v); });
  AddOptional(record, args.Next<optional<double>>(),
              [](Record& r, double d) { r.Add(d); });
  AddOptional(record, args.Next<optional<std::vector<double>>>(),
              [](Record& r, const std::vector<double>& v) { r.AddList(v); });
  AddOptional(record, args.Next<optional<at::Scalar>>(), AddScalar);
  AddOptional(record, args.Next<optional<std::vector<at::Scalar>>>(),
              AddScalars);
  AddOptional(record, args.Next<optional<std::string>>(),
              [](Record& r, const std::string& s) { r.AddString(s); });
  AddOptional(record, args.Next<optional<std::vector<std::string>>>(),
              AddStrings);
  AddOptional(record, args.Next<optional<c10::Device>>(), AddDevice);
  args.Return({record.ToTensor()});
}

Tensor FnWithDefaultInput(const Tensor& t, int64_t i) { return t * i; }

std::tuple<Tensor, Tensor> FnWithTupleOutput(const Tensor& t, int64_t i) {
  return {t + i, t * i};
}

std::vector<Tensor> FnWithListOutput(at::TensorList tensors, int64_t i) {
  std::vector<Tensor> outputs;
  for (const Tensor& t : tensors) outputs.push_back(t - i);
  return outputs;
}

std::tuple<Tensor, std::vector<Tensor>> FnWithMixOutputs(
    const Tensor& t, at::TensorList tensors) {
  std::vector<Tensor> outputs;
  for (const Tensor& x : tensors) outputs.push_back(x * 3);
  return {t + 10, outputs};
}

// Mutates t0 and t2 in place.
std::tuple<Tensor, Tensor> FnWithInputMutation(Tensor& t0, const Tensor& t1,
                                               Tensor& t2) {
  t0.add_(t1);
  t2.mul_(2);
  return {t1 * t1, t1 - 5};
}

// The out variant: writes into `out`, returns nothing.
void FnOutVariantWithoutReturn(const Tensor& x, Tensor& out) {
  out.copy_(x * 2 + 1);
}

std::tuple<Tensor, optional<Tensor>, optional<Tensor>>
FnWithOptionalTensorOutput(const Tensor& t1, const Tensor& t2) {
  return {t1 + t2, t1 * t2, c10::nullopt};
}

// The None in the middle: later returns must still find their values.
std::tuple<Tensor, optional<Tensor>, optional<Tensor>>
FnWithOptionalTensorOutput2(const Tensor& t1, const Tensor& t2) {
  return {t1 + t2, c10::nullopt, t1 * t2};
}

std::tuple<Tensor, optional<Tensor>, optional<Tensor>, int64_t, int64_t>
FnWithIntOutput(const Tensor& t1, const Tensor& t2, int64_t i) {
  return {t1 + t2, t1 * t2, c10::nullopt, i, i * 2};
}

// ---------------------------------------------------------------------------
// Ops for the other argument and return kinds.

Tensor EncodeStatics(double f, bool b, c10::string_view s,
                     c10::ScalarType dtype, c10::Layout layout,
                     c10::MemoryFormat memory_format, c10::Device device) {
  Record record;
  record.Add(f).AddBool(b).AddString(std::string(s));
  record.Add(static_cast<double>(dtype))
      .Add(static_cast<double>(layout))
      .Add(static_cast<double>(memory_format));
  AddDevice(record, device);
  return record.ToTensor();
}

Tensor EncodeScalar(const at::Scalar& s) {
  Record record;
  AddScalar(record, s);
  return record.ToTensor();
}

// Boxed: Scalar[].
void EncodeScalars(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  BoxedArgs args(op, stack);
  Record record;
  AddScalars(record, args.Next<std::vector<at::Scalar>>());
  args.Return({record.ToTensor()});
}

// Boxed: Any.
void EncodeAny(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  BoxedArgs args(op, stack);
  const IValue& value = args.NextIValue();
  Record record;
  if (value.isNone()) {
    record.Add(kTagNone);
  } else if (value.isBool()) {
    record.Add(kTagBool).AddBool(value.toBool());
  } else if (value.isInt()) {
    record.Add(kTagInt).Add(static_cast<double>(value.toInt()));
  } else if (value.isDouble()) {
    record.Add(kTagFloat).Add(value.toDouble());
  } else if (value.isString()) {
    record.Add(kTagString).AddString(value.toStringRef());
  } else if (value.isTensor()) {
    record.Add(kTagTensor).AddTensor(value.toTensor());
  } else {
    TORCH_CHECK(false, "aoti_test::encode_any: unexpected ", value.tagKind());
  }
  args.Return({record.ToTensor()});
}

Tensor EncodeSymInts(c10::SymInt n, c10::SymIntArrayRef ns,
                     optional<c10::SymInt> maybe_n) {
  Record record;
  record.Add(static_cast<double>(n.expect_int()));
  record.Add(static_cast<double>(ns.size()));
  for (const c10::SymInt& value : ns) {
    record.Add(static_cast<double>(value.expect_int()));
  }
  AddOptional(record, maybe_n, [](Record& r, const c10::SymInt& value) {
    r.Add(static_cast<double>(value.expect_int()));
  });
  return record.ToTensor();
}

Tensor EncodeOptionals(const optional<Tensor>& t, optional<int64_t> i,
                       optional<double> f, optional<c10::ScalarType> dtype,
                       optional<c10::Device> device) {
  Record record;
  AddOptional(record, t, [](Record& r, const Tensor& x) { r.AddTensor(x); });
  AddOptional(record, i,
              [](Record& r, int64_t v) { r.Add(static_cast<double>(v)); });
  AddOptional(record, f, [](Record& r, double v) { r.Add(v); });
  AddOptional(record, dtype, [](Record& r, c10::ScalarType v) {
    r.Add(static_cast<double>(v));
  });
  AddOptional(record, device, AddDevice);
  return record.ToTensor();
}

Tensor EncodeKwargDefaults(const Tensor& x, int64_t a, double b,
                           c10::string_view mode, at::IntArrayRef dims,
                           bool flag, optional<c10::ScalarType> dtype) {
  Record record;
  record.AddTensor(x).Add(static_cast<double>(a)).Add(b);
  record.AddString(std::string(mode));
  record.AddList(dims.vec());
  record.AddBool(flag);
  AddOptional(record, dtype, [](Record& r, c10::ScalarType v) {
    r.Add(static_cast<double>(v));
  });
  return record.ToTensor();
}

// The length of every list argument: an empty list must arrive as an empty
// list, never as None (which typed unboxing refuses).
Tensor ListLengths(at::IntArrayRef ints, at::TensorList tensors,
                   c10::SymIntArrayRef symints, at::ArrayRef<double> floats,
                   const c10::List<optional<Tensor>>& optional_tensors,
                   const c10::List<bool>& bools,
                   const std::vector<std::string>& strings) {
  Record record;
  for (size_t size :
       {ints.size(), tensors.size(), symints.size(), floats.size(),
        optional_tensors.size(), bools.size(), strings.size()}) {
    record.Add(static_cast<double>(size));
  }
  return record.ToTensor();
}

Tensor AlwaysThrows(const Tensor& x) {
  TORCH_CHECK(false, "aoti_test::always_throws refuses a tensor of ", x.dim(),
              " dims");
  return x;
}

// Throws something that is not a std::exception: the engine must still turn
// it into an error, never let it escape.
Tensor ThrowsNonStd(const Tensor& x) {
  if (x.defined()) throw 42;
  return x;
}

// Boxed: a NoneType return has no typed C++ form.
void TensorAndNone(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  BoxedArgs args(op, stack);
  Tensor x = args.Next<Tensor>();
  args.Return({x + 100, IValue()});
}

void NoneAndTensor(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  BoxedArgs args(op, stack);
  Tensor x = args.Next<Tensor>();
  args.Return({IValue(), x - 100});
}

// `n` tensors x + 0, x + 1, ...: a Tensor[] return whose length is decided
// at run time, so it can differ from the serialized one.
std::vector<Tensor> NCopies(const Tensor& x, int64_t n) {
  std::vector<Tensor> outputs;
  for (int64_t k = 0; k < n; ++k) outputs.push_back(x + k);
  return outputs;
}

}  // namespace

// Every op has a CompositeExplicitAutograd kernel (one for every backend,
// and for calls without tensors), never a CompositeImplicitAutograd one:
// torch.export would trace into that, and the compiled model would make no
// extern call.
template <typename Func>
torch::CppFunction Kernel(Func&& f) {
  return torch::dispatch(c10::DispatchKey::CompositeExplicitAutograd,
                         std::forward<Func>(f));
}

TORCH_LIBRARY(aoti_test, m) {
  // test/inductor/custom_ops.cpp's schemas.
  m.def(
      "fn_with_all_inputs(Tensor tensor, "
      "Tensor[] tensors, "
      "Tensor?[] optional_tensors, "
      "bool b8, bool[] b8s, "
      "int i64, int[] i64s, "
      "SymInt symint, SymInt[] symints, "
      "float f64, float[] f64s, "
      "Scalar scalar, Scalar[] scalars, "
      "str string, str[] strings, "
      "Device device, "
      "*, "
      "Tensor? o_tensor, Tensor[]? o_tensors, "
      "bool? o_b8, bool[]? o_b8s, "
      "int? o_i64, int[]? o_i64s, "
      "SymInt? o_symint, SymInt[]? o_symints, "
      "float? o_f64, float[]? o_f64s, "
      "Scalar? o_scalar, Scalar[]? o_scalars, "
      "str? o_string, str[]? o_strings, "
      "Device? o_device) -> Tensor",
      Kernel(torch::CppFunction::makeFromBoxedFunction<&FnWithAllInputs>()));
  m.def("fn_with_default_input(Tensor t, int i=3) -> Tensor",
        Kernel(TORCH_FN(FnWithDefaultInput)));
  m.def("fn_with_tuple_output(Tensor t, int i) -> (Tensor, Tensor)",
        Kernel(TORCH_FN(FnWithTupleOutput)));
  m.def("fn_with_list_output(Tensor[] tensors, int i) -> Tensor[]",
        Kernel(TORCH_FN(FnWithListOutput)));
  m.def("fn_with_mix_outputs(Tensor t, Tensor[] tensors) -> (Tensor, Tensor[])",
        Kernel(TORCH_FN(FnWithMixOutputs)));
  m.def(
      "fn_with_input_mutation(Tensor(a!) t0, Tensor t1, Tensor(b!) t2) -> "
      "(Tensor, Tensor)",
      Kernel(TORCH_FN(FnWithInputMutation)));
  m.def("fn_out_variant_without_return(Tensor x, Tensor(a!) out) -> ()",
        Kernel(TORCH_FN(FnOutVariantWithoutReturn)));
  m.def(
      "fn_with_optional_tensor_output(Tensor t1, Tensor t2) -> "
      "(Tensor, Tensor?, Tensor?)",
      Kernel(TORCH_FN(FnWithOptionalTensorOutput)));
  m.def(
      "fn_with_optional_tensor_output_2(Tensor t1, Tensor t2) -> "
      "(Tensor, Tensor?, Tensor?)",
      Kernel(TORCH_FN(FnWithOptionalTensorOutput2)));
  m.def(
      "fn_with_int_output(Tensor t1, Tensor t2, int i) -> "
      "(Tensor, Tensor?, Tensor?, int, int)",
      Kernel(TORCH_FN(FnWithIntOutput)));

  // Every other argument and return kind.
  m.def(
      "encode_statics(float f, bool b, str s, ScalarType dtype, Layout layout, "
      "MemoryFormat memory_format, Device device) -> Tensor",
      Kernel(TORCH_FN(EncodeStatics)));
  m.def("encode_scalar(Scalar s) -> Tensor", Kernel(TORCH_FN(EncodeScalar)));
  m.def("encode_scalars(Scalar[] s) -> Tensor",
        Kernel(torch::CppFunction::makeFromBoxedFunction<&EncodeScalars>()));
  m.def("encode_any(Any a) -> Tensor",
        Kernel(torch::CppFunction::makeFromBoxedFunction<&EncodeAny>()));
  m.def("encode_symints(SymInt n, SymInt[] ns, SymInt? maybe_n=None) -> Tensor",
        Kernel(TORCH_FN(EncodeSymInts)));
  m.def(
      "encode_optionals(Tensor? t, int? i, float? f, ScalarType? dtype, "
      "Device? device) -> Tensor",
      Kernel(TORCH_FN(EncodeOptionals)));
  m.def(
      "encode_kwarg_defaults(Tensor x, *, int a=2, float b=0.5, "
      "str mode=\"sum\", int[] dims=[1, 2], bool flag=True, "
      "ScalarType? dtype=None) -> Tensor",
      Kernel(TORCH_FN(EncodeKwargDefaults)));
  m.def(
      "list_lengths(int[] ints, Tensor[] tensors, SymInt[] symints, "
      "float[] floats, Tensor?[] optional_tensors, bool[] bools, "
      "str[] strings) -> Tensor",
      Kernel(TORCH_FN(ListLengths)));
  m.def("always_throws(Tensor x) -> Tensor", Kernel(TORCH_FN(AlwaysThrows)));
  m.def("throws_non_std(Tensor x) -> Tensor", Kernel(TORCH_FN(ThrowsNonStd)));
  m.def("tensor_and_none(Tensor x) -> (Tensor, NoneType)",
        Kernel(torch::CppFunction::makeFromBoxedFunction<&TensorAndNone>()));
  m.def("none_and_tensor(Tensor x) -> (NoneType, Tensor)",
        Kernel(torch::CppFunction::makeFromBoxedFunction<&NoneAndTensor>()));
  m.def("n_copies(Tensor x, int n) -> Tensor[]", Kernel(TORCH_FN(NCopies)));
}

}  // namespace aoti_test
