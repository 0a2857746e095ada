#include "server/kernels/op_kernel.h"

#include <ATen/core/List.h>
#include <ATen/core/jit_type.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/common/status_macros.h"
#include "server/kernels/argument_binder.h"
#include "server/kernels/serialized_argument.h"

namespace aoti_executor {
namespace {

// The ints a call site of a PyTorch release with pytorch#189189 passes for
// an omitted kwarg-only argument's default: an int (SymInt, Scalar) is one,
// an int list its elements; anything else passes none.
std::vector<int64_t> FlatIntsOfDefault(const c10::IValue& value) {
  if (value.isInt()) return {value.toInt()};
  if (value.isIntList()) return value.toIntVector();
  return {};
}

bool IsPythonOnlyCustomOp(const rapidjson::Value& node) {
  auto metadata = node.FindMember("metadata");
  if (metadata == node.MemberEnd() || !metadata->value.IsObject()) return false;
  auto flag = metadata->value.FindMember("torch_library_custom_op");
  return flag != metadata->value.MemberEnd() && flag->value.IsString() &&
         absl::string_view(flag->value.GetString()) == "1";
}

// `target` is OpOverload.name(): "ns::op" or "ns::op.overload".
absl::StatusOr<c10::OperatorHandle> ResolveOperator(
    const std::string& target, const rapidjson::Value& node) {
  if (target == "call_torchbind") {
    return absl::UnimplementedError(
        "torchbind method calls (call_torchbind) are not supported yet");
  }
  const size_t dot = target.find('.');
  const std::string op_name = target.substr(0, dot);
  const std::string overload =
      dot == std::string::npos ? "" : target.substr(dot + 1);
  if (overload.find('.') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("target '", target,
                     "' has more than one '.'; expected ns::op[.overload]"));
  }
  if (op_name.find("::") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target '", target, "' is not of the form ns::op[.overload]"));
  }
  try {
    return c10::Dispatcher::singleton().findSchemaOrThrow(op_name.c_str(),
                                                          overload.c_str());
  } catch (const c10::Error& e) {
    if (IsPythonOnlyCustomOp(node)) {
      return absl::NotFoundError(absl::StrCat(
          "operator '", target,
          "' was made with torch.library.custom_op and has no C++ "
          "registration; register it with TORCH_LIBRARY and load that "
          "library with --load-library"));
    }
    return absl::NotFoundError(absl::StrCat(
        "operator '", target,
        "' is not registered (is its library loaded with --load-library?): ",
        e.what_without_backtrace()));
  }
}

int FindArgument(const std::vector<c10::Argument>& arguments,
                 const std::string& name) {
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i].name() == name) return static_cast<int>(i);
  }
  return -1;
}

std::string SchemaString(const c10::FunctionSchema& schema) {
  std::ostringstream out;
  out << schema;
  return out.str();
}

}  // namespace

absl::StatusOr<OpKernel> OpKernel::FromJson(int node_index,
                                            const rapidjson::Value& extern_node,
                                            c10::Device device) {
  const std::string where = absl::StrCat("extern node ", node_index);
  auto node = GetMember(extern_node, "node");
  if (!node.ok()) return WithContext(node.status(), where);
  auto target = GetStringMember(**node, "target");
  if (!target.ok()) return WithContext(target.status(), where);

  std::string description = where;
  auto name = extern_node.FindMember("name");
  if (name != extern_node.MemberEnd() && name->value.IsString()) {
    absl::StrAppend(&description, " '", name->value.GetString(), "'");
  }
  absl::StrAppend(&description, " (", *target, ")");

  auto op = ResolveOperator(*target, **node);
  if (!op.ok()) return WithContext(op.status(), description);
  OpKernel kernel(*std::move(op), *std::move(target), std::move(description));

  auto inputs = GetArrayMember(**node, "inputs");
  absl::Status status =
      inputs.ok() ? kernel.BindInputs(**inputs, device) : inputs.status();
  if (status.ok()) {
    auto outputs = GetArrayMember(**node, "outputs");
    status =
        outputs.ok() ? kernel.BindOutputs(**outputs, device) : outputs.status();
  }
  if (!status.ok()) return WithContext(status, kernel.description_);
  kernel.CountFlatArgs();
  return kernel;
}

absl::Status OpKernel::BindInputs(const rapidjson::Value& inputs,
                                  c10::Device device) {
  const std::vector<c10::Argument>& arguments = schema().arguments();
  stack_.assign(arguments.size(), c10::IValue());
  std::vector<bool> bound(arguments.size(), false);
  const ArgumentBinder binder(device);
  for (rapidjson::SizeType i = 0; i < inputs.Size(); ++i) {
    const std::string where = absl::StrCat("inputs[", i, "]");
    auto name = GetStringMember(inputs[i], "name");
    if (!name.ok()) return WithContext(name.status(), where);
    auto arg = GetMember(inputs[i], "arg");
    if (!arg.ok()) return WithContext(arg.status(), where);
    const int index = FindArgument(arguments, *name);
    if (index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("serialized argument '", *name,
                       "' is not in the schema ", SchemaString(schema())));
    }
    if (bound[index]) {
      return absl::InvalidArgumentError(
          absl::StrCat("argument '", *name, "' is serialized twice"));
    }
    bound[index] = true;
    AOTI_RETURN_IF_ERROR(
        WithContext(binder.BindInput(arguments[index].real_type(), **arg, index,
                                     &stack_[index], &dynamic_),
                    absl::StrCat("argument '", *name, "'")));
  }
  // Omitted kwarg-only int defaults, by stack index, with their flat ints.
  std::vector<std::pair<int, std::vector<int64_t>>> omitted;
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (bound[i]) continue;
    if (arguments[i].default_value().has_value()) {
      stack_[i] = *arguments[i].default_value();
      if (arguments[i].kwarg_only()) {
        std::vector<int64_t> flat = FlatIntsOfDefault(stack_[i]);
        if (!flat.empty()) omitted.emplace_back(i, std::move(flat));
      }
    } else if (arguments[i].type()->kind() != c10::TypeKind::OptionalType) {
      return absl::InvalidArgumentError(
          absl::StrCat("argument '", arguments[i].name(),
                       "' is not serialized and has no default in ",
                       SchemaString(schema())));
    }
  }
  // The call site appends run-time values in schema order, whatever order the
  // JSON lists them in.
  std::sort(dynamic_.begin(), dynamic_.end(),
            [](const DynamicArg& a, const DynamicArg& b) {
              return a.stack_index < b.stack_index;
            });
  // Where the #189189 layout puts each omitted default: among the run-time
  // ints, in schema order.
  int position = 0;
  auto next = dynamic_.begin();
  for (const auto& [stack_index, flat] : omitted) {
    for (; next != dynamic_.end() && next->stack_index < stack_index; ++next) {
      if (!next->takes_tensors()) position += next->flat_count();
    }
    for (int64_t value : flat) omitted_defaults_.push_back({position++, value});
  }
  return absl::OkStatus();
}

absl::Status OpKernel::BindOutputs(const rapidjson::Value& outputs,
                                   c10::Device device) {
  const std::vector<c10::Argument>& returns = schema().returns();
  if (outputs.Size() != returns.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the node serializes ", outputs.Size(), " outputs but the schema ",
        SchemaString(schema()), " has ", returns.size(), " returns"));
  }
  const ArgumentBinder binder(device);
  for (size_t i = 0; i < returns.size(); ++i) {
    auto slot = binder.BindOutput(returns[i].real_type(), outputs[i]);
    if (!slot.ok()) {
      return WithContext(slot.status(), absl::StrCat("outputs[", i, "]"));
    }
    outputs_.push_back(*slot);
  }
  return absl::OkStatus();
}

void OpKernel::CountFlatArgs() {
  const std::vector<c10::Argument>& arguments = schema().arguments();
  for (const DynamicArg& arg : dynamic_) {
    if (!arg.takes_tensors()) {
      num_input_ints_ += arg.flat_count();
      continue;
    }
    const c10::AliasInfo* alias = arguments[arg.stack_index].alias_info();
    if (alias != nullptr && alias->isWrite()) {
      for (int i = 0; i < arg.flat_count(); ++i) {
        mutated_input_tensors_.push_back(num_input_tensors_ + i);
      }
    }
    num_input_tensors_ += arg.flat_count();
  }
  for (const OutputSlot& slot : outputs_) {
    if (slot.type == OutputType::kTensor ||
        slot.type == OutputType::kTensorList) {
      num_output_tensors_ += slot.length;
    } else if (slot.type == OutputType::kInt) {
      num_output_ints_ += 1;
    }
  }
}

absl::StatusOr<std::vector<at::Tensor>> OpKernel::Run(
    absl::Span<const int64_t> ints, absl::Span<const at::Tensor> inputs) const {
  std::vector<int64_t> without_defaults;
  if (!omitted_defaults_.empty() &&
      ints.size() == static_cast<size_t>(num_input_ints_ + num_output_ints_) +
                         omitted_defaults_.size()) {
    AOTI_ASSIGN_OR_RETURN(without_defaults, DropOmittedDefaults(ints));
    ints = without_defaults;
  }
  AOTI_RETURN_IF_ERROR(CheckCounts(ints.size(), inputs.size()));
  std::vector<c10::IValue> stack = stack_;
  FillDynamicArgs(ints, inputs, &stack);
  try {
    op_.callBoxed(&stack);
  } catch (const c10::Error& e) {
    return absl::UnknownError(
        absl::StrCat(description_, " raised: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::UnknownError(
        absl::StrCat(description_, " raised: ", e.what()));
  } catch (...) {
    // A custom op may throw anything; it must never escape the engine.
    return absl::UnknownError(absl::StrCat(
        description_, " raised an exception that is not a std::exception"));
  }
  return CollectOutputs(ints.subspan(num_input_ints_), &stack);
}

absl::StatusOr<std::vector<int64_t>> OpKernel::DropOmittedDefaults(
    absl::Span<const int64_t> ints) const {
  std::vector<int64_t> kept;
  kept.reserve(ints.size() - omitted_defaults_.size());
  auto omitted = omitted_defaults_.begin();
  for (size_t i = 0; i < ints.size(); ++i) {
    if (omitted != omitted_defaults_.end() &&
        static_cast<size_t>(omitted->position) == i) {
      if (ints[i] != omitted->value) {
        return absl::InvalidArgumentError(absl::StrCat(
            description_, ": got ", ints.size(),
            " ints, as if with the omitted kwarg-only defaults "
            "(pytorch#189189), but int ",
            i, " is ", ints[i], ", not the default ", omitted->value));
      }
      ++omitted;
      continue;
    }
    kept.push_back(ints[i]);
  }
  return kept;
}

absl::Status OpKernel::CheckCounts(size_t num_ints, size_t num_inputs) const {
  if (num_inputs != static_cast<size_t>(num_input_tensors_)) {
    return absl::InvalidArgumentError(
        absl::StrCat(description_, ": expected ", num_input_tensors_,
                     " input tensors, got ", num_inputs));
  }
  const size_t expected_ints = num_input_ints_ + num_output_ints_;
  if (num_ints != expected_ints) {
    return absl::InvalidArgumentError(absl::StrCat(
        description_, ": expected ", expected_ints, " ints (", num_input_ints_,
        " inputs + ", num_output_ints_, " int outputs",
        omitted_defaults_.empty()
            ? std::string()
            : absl::StrCat("; or ", expected_ints + omitted_defaults_.size(),
                           " with the omitted kwarg-only defaults"),
        "), got ", num_ints));
  }
  return absl::OkStatus();
}

void OpKernel::FillDynamicArgs(absl::Span<const int64_t> ints,
                               absl::Span<const at::Tensor> inputs,
                               std::vector<c10::IValue>* stack) const {
  size_t next_tensor = 0;
  size_t next_int = 0;
  for (const DynamicArg& arg : dynamic_) {
    c10::IValue& slot = (*stack)[arg.stack_index];
    switch (arg.type) {
      case DynamicArgType::kTensor:
        slot = inputs[next_tensor++];
        break;
      case DynamicArgType::kTensorList: {
        c10::List<at::Tensor> list;
        list.reserve(arg.length);
        for (int i = 0; i < arg.length; ++i)
          list.push_back(inputs[next_tensor++]);
        slot = std::move(list);
        break;
      }
      case DynamicArgType::kOptionalTensorList: {
        c10::List<c10::optional<at::Tensor>> list;
        list.reserve(arg.length);
        for (bool present : arg.present) {
          list.push_back(present
                             ? c10::optional<at::Tensor>(inputs[next_tensor++])
                             : c10::nullopt);
        }
        slot = std::move(list);
        break;
      }
      case DynamicArgType::kInt:
        slot = ints[next_int++];
        break;
      case DynamicArgType::kIntList: {
        c10::List<int64_t> list;
        list.reserve(arg.length);
        for (int i = 0; i < arg.length; ++i) list.push_back(ints[next_int++]);
        slot = std::move(list);
        break;
      }
      case DynamicArgType::kScalarIntList: {
        c10::impl::GenericList list(c10::NumberType::get());
        list.reserve(arg.length);
        for (int i = 0; i < arg.length; ++i) list.push_back(ints[next_int++]);
        slot = c10::IValue(list);
        break;
      }
    }
  }
}

absl::StatusOr<std::vector<at::Tensor>> OpKernel::CollectOutputs(
    absl::Span<const int64_t> output_ints,
    std::vector<c10::IValue>* stack) const {
  if (stack->size() != outputs_.size()) {
    return absl::InternalError(
        absl::StrCat(description_, " returned ", stack->size(),
                     " values, its schema has ", outputs_.size(), " returns"));
  }
  std::vector<at::Tensor> tensors;
  tensors.reserve(num_output_tensors_);
  size_t next_int = 0;
  for (size_t k = 0; k < outputs_.size(); ++k) {
    c10::IValue& value = (*stack)[k];
    switch (outputs_[k].type) {
      case OutputType::kTensor:
        if (!value.isTensor()) {
          return absl::InternalError(
              absl::StrCat(description_, ": return ", k, " is ",
                           value.tagKind(), ", the node expects a tensor"));
        }
        tensors.push_back(std::move(value).toTensor());
        break;
      case OutputType::kTensorList: {
        if (!value.isTensorList()) {
          return absl::InternalError(absl::StrCat(
              description_, ": return ", k, " is ", value.tagKind(),
              ", the node expects a tensor list"));
        }
        c10::List<at::Tensor> list = std::move(value).toTensorList();
        if (list.size() != static_cast<size_t>(outputs_[k].length)) {
          return absl::InternalError(
              absl::StrCat(description_, ": return ", k, " has ", list.size(),
                           " tensors, the node expects ", outputs_[k].length));
        }
        for (const at::Tensor& t : list) tensors.push_back(t);
        break;
      }
      case OutputType::kSkipped:
        break;
      case OutputType::kInt: {
        const int64_t expected = output_ints[next_int++];
        if (!value.isInt() || value.toInt() != expected) {
          return absl::InternalError(absl::StrCat(
              description_, ": return ", k, " is ",
              value.isInt() ? std::to_string(value.toInt()) : value.tagKind(),
              ", but the model was compiled for the int ", expected));
        }
        break;
      }
    }
  }
  return tensors;
}

}  // namespace aoti_executor
