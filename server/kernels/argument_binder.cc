#include "server/kernels/argument_binder.h"

#include <ATen/core/List.h>
#include <ATen/core/jit_type.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/common/status_macros.h"
#include "server/kernels/serialized_argument.h"
#include "server/kernels/serialized_enums.h"

namespace aoti_executor {
namespace {

// Where a bound argument goes: a static value into `slot`, or a DynamicArg.
struct Target {
  int stack_index;
  c10::IValue* slot;
  std::vector<DynamicArg>* dynamic;

  void AddDynamic(DynamicArgType type, int length,
                  std::vector<bool> present = {}) const {
    dynamic->push_back(
        DynamicArg{stack_index, type, length, std::move(present)});
  }
};

absl::Status WrongKey(const c10::TypePtr& type, absl::string_view got,
                      absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("schema type '", type->str(), "' expects ", expected,
                   ", but the serialized argument is ", got));
}

absl::Status Unsupported(const c10::TypePtr& type, absl::string_view what) {
  return absl::UnimplementedError(
      absl::StrCat("unsupported ", what, " type '", type->str(), "'"));
}

// The length of a list payload, for run-time lists whose values come from
// the flat arrays (the JSON values are only the compile-time record).
absl::StatusOr<int> DynamicListLength(const rapidjson::Value& payload) {
  AOTI_ASSIGN_OR_RETURN(const rapidjson::Value* array, ReadArray(payload));
  return static_cast<int>(array->Size());
}

template <typename T, typename ReadFn>
absl::StatusOr<c10::List<T>> ReadStaticList(const rapidjson::Value& payload,
                                            ReadFn read) {
  AOTI_ASSIGN_OR_RETURN(const rapidjson::Value* array, ReadArray(payload));
  c10::List<T> list;
  list.reserve(array->Size());
  for (const auto& item : array->GetArray()) {
    AOTI_ASSIGN_OR_RETURN(T value, read(item));
    list.push_back(std::move(value));
  }
  return list;
}

// A `Scalar[]` must reach the kernel as a list of numbers: libtorch's
// unboxing refuses a typed int or float list there.
template <typename ReadFn>
absl::StatusOr<c10::IValue> ReadStaticNumberList(
    const rapidjson::Value& payload, ReadFn read) {
  AOTI_ASSIGN_OR_RETURN(const rapidjson::Value* array, ReadArray(payload));
  c10::impl::GenericList list(c10::NumberType::get());
  list.reserve(array->Size());
  for (const auto& item : array->GetArray()) {
    AOTI_ASSIGN_OR_RETURN(auto value, read(item));
    list.push_back(c10::IValue(value));
  }
  return c10::IValue(list);
}

absl::StatusOr<std::vector<bool>> ReadOptionalTensorItems(
    const rapidjson::Value& payload) {
  AOTI_ASSIGN_OR_RETURN(const rapidjson::Value* array, ReadArray(payload));
  std::vector<bool> present;
  for (const auto& item : array->GetArray()) {
    AOTI_ASSIGN_OR_RETURN(SerializedArgument arg, UnpackArgument(item));
    if (arg.key != "as_tensor" && arg.key != "as_none") {
      return absl::InvalidArgumentError(absl::StrCat(
          "items of as_optional_tensors must be as_tensor or as_none, got ",
          arg.key));
    }
    present.push_back(arg.key == "as_tensor");
  }
  return present;
}

absl::Status BindList(const c10::TypePtr& type, SerializedArgument arg,
                      const Target& target) {
  const c10::TypePtr& element =
      type->expectRef<c10::ListType>().getElementType();
  const absl::string_view key = arg.key;
  const rapidjson::Value& payload = *arg.payload;
  switch (element->kind()) {
    case c10::TypeKind::TensorType: {
      if (key != "as_tensors") return WrongKey(type, key, "as_tensors");
      AOTI_ASSIGN_OR_RETURN(int length, DynamicListLength(payload));
      target.AddDynamic(DynamicArgType::kTensorList, length);
      return absl::OkStatus();
    }
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: {
      const bool sym = element->kind() == c10::TypeKind::SymIntType;
      if (key != "as_ints" && !(sym && key == "as_sym_ints")) {
        return WrongKey(type, key, sym ? "as_ints or as_sym_ints" : "as_ints");
      }
      AOTI_ASSIGN_OR_RETURN(int length, DynamicListLength(payload));
      target.AddDynamic(DynamicArgType::kIntList, length);
      return absl::OkStatus();
    }
    case c10::TypeKind::FloatType: {
      if (key != "as_floats") return WrongKey(type, key, "as_floats");
      AOTI_ASSIGN_OR_RETURN(*target.slot,
                            ReadStaticList<double>(payload, ReadDouble));
      return absl::OkStatus();
    }
    case c10::TypeKind::BoolType: {
      if (key != "as_bools") return WrongKey(type, key, "as_bools");
      AOTI_ASSIGN_OR_RETURN(*target.slot,
                            ReadStaticList<bool>(payload, ReadBool));
      return absl::OkStatus();
    }
    case c10::TypeKind::StringType: {
      if (key != "as_strings") return WrongKey(type, key, "as_strings");
      AOTI_ASSIGN_OR_RETURN(*target.slot,
                            ReadStaticList<std::string>(payload, ReadString));
      return absl::OkStatus();
    }
    case c10::TypeKind::NumberType: {
      if (key == "as_ints") {
        AOTI_ASSIGN_OR_RETURN(int length, DynamicListLength(payload));
        target.AddDynamic(DynamicArgType::kScalarIntList, length);
        return absl::OkStatus();
      }
      if (key == "as_floats") {
        AOTI_ASSIGN_OR_RETURN(*target.slot,
                              ReadStaticNumberList(payload, ReadDouble));
        return absl::OkStatus();
      }
      if (key == "as_bools") {
        AOTI_ASSIGN_OR_RETURN(*target.slot,
                              ReadStaticNumberList(payload, ReadBool));
        return absl::OkStatus();
      }
      return WrongKey(type, key, "as_ints, as_floats or as_bools");
    }
    case c10::TypeKind::OptionalType: {
      if (element->expectRef<c10::OptionalType>().getElementType()->kind() !=
          c10::TypeKind::TensorType) {
        return Unsupported(type, "list");
      }
      if (key == "as_optional_tensors") {
        AOTI_ASSIGN_OR_RETURN(std::vector<bool> present,
                              ReadOptionalTensorItems(payload));
        const int length = static_cast<int>(present.size());
        target.AddDynamic(DynamicArgType::kOptionalTensorList, length,
                          std::move(present));
        return absl::OkStatus();
      }
      if (key == "as_tensors") {
        AOTI_ASSIGN_OR_RETURN(int length, DynamicListLength(payload));
        target.AddDynamic(DynamicArgType::kOptionalTensorList, length,
                          std::vector<bool>(length, true));
        return absl::OkStatus();
      }
      return WrongKey(type, key, "as_optional_tensors or as_tensors");
    }
    default:
      return Unsupported(type, "list");
  }
}

absl::Status BindScalar(const c10::TypePtr& type, SerializedArgument arg,
                        const Target& target) {
  // Int Scalars are run-time values in the flat int array; floats and bools
  // are not passed by the call site and come from the JSON alone.
  if (arg.key == "as_int" || arg.key == "as_sym_int") {
    target.AddDynamic(DynamicArgType::kInt, 1);
    return absl::OkStatus();
  }
  if (arg.key == "as_float") {
    AOTI_ASSIGN_OR_RETURN(double value, ReadDouble(*arg.payload));
    *target.slot = value;
    return absl::OkStatus();
  }
  if (arg.key == "as_bool") {
    AOTI_ASSIGN_OR_RETURN(bool value, ReadBool(*arg.payload));
    *target.slot = value;
    return absl::OkStatus();
  }
  return WrongKey(type, arg.key, "as_int, as_sym_int, as_float or as_bool");
}

absl::Status BindAny(const c10::TypePtr& type, SerializedArgument arg,
                     const Target& target) {
  const absl::string_view key = arg.key;
  if (key == "as_tensor") {
    target.AddDynamic(DynamicArgType::kTensor, 1);
  } else if (key == "as_int") {
    target.AddDynamic(DynamicArgType::kInt, 1);
  } else if (key == "as_none") {
    *target.slot = c10::IValue();
  } else if (key == "as_float") {
    AOTI_ASSIGN_OR_RETURN(double value, ReadDouble(*arg.payload));
    *target.slot = value;
  } else if (key == "as_bool") {
    AOTI_ASSIGN_OR_RETURN(bool value, ReadBool(*arg.payload));
    *target.slot = value;
  } else if (key == "as_string") {
    AOTI_ASSIGN_OR_RETURN(std::string value, ReadString(*arg.payload));
    *target.slot = std::move(value);
  } else {
    return WrongKey(
        type, key,
        "as_tensor, as_int, as_float, as_bool, as_string or as_none");
  }
  return absl::OkStatus();
}

absl::Status BindEnum(const c10::TypePtr& type, SerializedArgument arg,
                      c10::IValue* slot) {
  const c10::TypeKind kind = type->kind();
  const char* expected =
      kind == c10::TypeKind::ScalarTypeType ? "as_scalar_type"
      : kind == c10::TypeKind::LayoutType   ? "as_layout"
                                            : "as_memory_format";
  if (arg.key != expected) return WrongKey(type, arg.key, expected);
  AOTI_ASSIGN_OR_RETURN(int64_t serialized, ReadInt(*arg.payload));
  // libtorch carries these enums as ints on the stack.
  if (kind == c10::TypeKind::ScalarTypeType) {
    AOTI_ASSIGN_OR_RETURN(c10::ScalarType value,
                          ScalarTypeFromSerialized(serialized));
    *slot = static_cast<int64_t>(value);
  } else if (kind == c10::TypeKind::LayoutType) {
    AOTI_ASSIGN_OR_RETURN(c10::Layout value, LayoutFromSerialized(serialized));
    *slot = static_cast<int64_t>(value);
  } else {
    AOTI_ASSIGN_OR_RETURN(c10::MemoryFormat value,
                          MemoryFormatFromSerialized(serialized));
    *slot = static_cast<int64_t>(value);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ArgumentBinder::BindInput(const c10::TypePtr& type,
                                       const rapidjson::Value& serialized,
                                       int stack_index, c10::IValue* slot,
                                       std::vector<DynamicArg>* dynamic) const {
  AOTI_ASSIGN_OR_RETURN(SerializedArgument arg, UnpackArgument(serialized));
  const Target target{stack_index, slot, dynamic};
  const absl::string_view key = arg.key;
  const rapidjson::Value& payload = *arg.payload;
  switch (type->kind()) {
    case c10::TypeKind::TensorType:
      if (key != "as_tensor") return WrongKey(type, key, "as_tensor");
      target.AddDynamic(DynamicArgType::kTensor, 1);
      return absl::OkStatus();
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: {
      const bool sym = type->kind() == c10::TypeKind::SymIntType;
      if (key != "as_int" && !(sym && key == "as_sym_int")) {
        return WrongKey(type, key, sym ? "as_int or as_sym_int" : "as_int");
      }
      target.AddDynamic(DynamicArgType::kInt, 1);
      return absl::OkStatus();
    }
    case c10::TypeKind::FloatType: {
      if (key != "as_float") return WrongKey(type, key, "as_float");
      AOTI_ASSIGN_OR_RETURN(double value, ReadDouble(payload));
      *slot = value;
      return absl::OkStatus();
    }
    case c10::TypeKind::BoolType: {
      if (key != "as_bool") return WrongKey(type, key, "as_bool");
      AOTI_ASSIGN_OR_RETURN(bool value, ReadBool(payload));
      *slot = value;
      return absl::OkStatus();
    }
    case c10::TypeKind::NumberType:
      return BindScalar(type, arg, target);
    case c10::TypeKind::StringType: {
      if (key != "as_string") return WrongKey(type, key, "as_string");
      AOTI_ASSIGN_OR_RETURN(std::string value, ReadString(payload));
      *slot = std::move(value);
      return absl::OkStatus();
    }
    case c10::TypeKind::ScalarTypeType:
    case c10::TypeKind::LayoutType:
    case c10::TypeKind::MemoryFormatType:
      return BindEnum(type, arg, slot);
    case c10::TypeKind::DeviceObjType: {
      if (key != "as_device") return WrongKey(type, key, "as_device");
      AOTI_ASSIGN_OR_RETURN(c10::Device device, BindDevice(payload));
      *slot = device;
      return absl::OkStatus();
    }
    case c10::TypeKind::ListType:
      return BindList(type, arg, target);
    case c10::TypeKind::OptionalType:
      if (key == "as_none") {
        *slot = c10::IValue();
        return absl::OkStatus();
      }
      return BindInput(type->expectRef<c10::OptionalType>().getElementType(),
                       serialized, stack_index, slot, dynamic);
    case c10::TypeKind::AnyType:
      return BindAny(type, arg, target);
    case c10::TypeKind::ClassType:
      return absl::UnimplementedError(
          absl::StrCat("torchbind object arguments ('", type->str(), "', ", key,
                       ") are not supported yet"));
    default:
      return Unsupported(type, "argument");
  }
}

absl::StatusOr<c10::Device> ArgumentBinder::BindDevice(
    const rapidjson::Value& payload) const {
  AOTI_ASSIGN_OR_RETURN(std::string type_name,
                        GetStringMember(payload, "type"));
  c10::Device serialized(c10::DeviceType::CPU);
  try {
    serialized = c10::Device(type_name);
  } catch (const std::exception&) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown device type \"", type_name, "\""));
  }
  auto index = payload.FindMember("index");
  if (index != payload.MemberEnd() && !index->value.IsNull()) {
    AOTI_ASSIGN_OR_RETURN(int64_t value, ReadInt(index->value));
    if (value < -1 || value > std::numeric_limits<c10::DeviceIndex>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat("device index ", value, " is out of range"));
    }
    serialized =
        c10::Device(serialized.type(), static_cast<c10::DeviceIndex>(value));
  }
  // A model compiled for cuda:0 may run on cuda:1: a device of the runtime
  // device's type follows the runtime device, and an index-less runtime
  // device ("cuda") means the current device, as in OSSProxyExecutor. A
  // device of another type (a copy to the CPU inside a CUDA model) keeps
  // what was serialized, where OSSProxyExecutor would wrongly replace it
  // too.
  if (serialized.type() == device_.type()) return device_;
  return serialized;
}

absl::StatusOr<OutputSlot> ArgumentBinder::BindOutput(
    const c10::TypePtr& type, const rapidjson::Value& serialized) const {
  AOTI_ASSIGN_OR_RETURN(SerializedArgument arg, UnpackArgument(serialized));
  const absl::string_view key = arg.key;
  switch (type->kind()) {
    case c10::TypeKind::TensorType:
      if (key != "as_tensor") return WrongKey(type, key, "as_tensor");
      return OutputSlot{OutputType::kTensor, 1};
    case c10::TypeKind::NoneType:
      if (key != "as_none") return WrongKey(type, key, "as_none");
      return OutputSlot{OutputType::kSkipped, 0};
    case c10::TypeKind::IntType:
      if (key != "as_int") return WrongKey(type, key, "as_int");
      return OutputSlot{OutputType::kInt, 1};
    case c10::TypeKind::ListType: {
      const auto& element = type->expectRef<c10::ListType>().getElementType();
      if (element->kind() != c10::TypeKind::TensorType) {
        return Unsupported(type, "return");
      }
      if (key != "as_tensors") return WrongKey(type, key, "as_tensors");
      AOTI_ASSIGN_OR_RETURN(int length, DynamicListLength(*arg.payload));
      return OutputSlot{OutputType::kTensorList, length};
    }
    case c10::TypeKind::OptionalType: {
      const auto& element =
          type->expectRef<c10::OptionalType>().getElementType();
      if (element->kind() != c10::TypeKind::TensorType) {
        return Unsupported(type, "return");
      }
      // Newer PyTorch wraps the value in as_optional_tensor; accept the bare
      // forms too.
      SerializedArgument inner = arg;
      if (key == "as_optional_tensor") {
        AOTI_ASSIGN_OR_RETURN(inner, UnpackArgument(*arg.payload));
      }
      if (inner.key == "as_tensor") return OutputSlot{OutputType::kTensor, 1};
      if (inner.key == "as_none") return OutputSlot{OutputType::kSkipped, 0};
      return WrongKey(type, key, "as_optional_tensor");
    }
    default:
      return Unsupported(type, "return");
  }
}

}  // namespace aoti_executor
