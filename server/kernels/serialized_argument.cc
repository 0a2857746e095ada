#include "server/kernels/serialized_argument.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace aoti_executor {

const char* JsonTypeName(const rapidjson::Value& value) {
  switch (value.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a bool";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "an unknown JSON value";
}

absl::StatusOr<SerializedArgument> UnpackArgument(
    const rapidjson::Value& value) {
  if (!value.IsObject() || value.MemberCount() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a serialized argument must be an object with exactly one key "
        "(e.g. {\"as_tensor\": ...}), got ",
        value.IsObject()
            ? absl::StrCat("an object with ", value.MemberCount(), " keys")
            : JsonTypeName(value)));
  }
  const auto& member = *value.MemberBegin();
  return SerializedArgument{
      absl::string_view(member.name.GetString(), member.name.GetStringLength()),
      &member.value};
}

absl::StatusOr<const rapidjson::Value*> GetMember(
    const rapidjson::Value& object, const char* key) {
  if (!object.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected an object with key \"", key, "\", got ",
                     JsonTypeName(object)));
  }
  auto it = object.FindMember(key);
  if (it == object.MemberEnd()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing key \"", key, "\""));
  }
  return &it->value;
}

absl::StatusOr<const rapidjson::Value*> GetArrayMember(
    const rapidjson::Value& object, const char* key) {
  auto member = GetMember(object, key);
  if (!member.ok()) return member.status();
  if (!(*member)->IsArray()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key \"", key, "\" must be an array, got ", JsonTypeName(**member)));
  }
  return member;
}

absl::StatusOr<std::string> GetStringMember(const rapidjson::Value& object,
                                            const char* key) {
  auto member = GetMember(object, key);
  if (!member.ok()) return member.status();
  if (!(*member)->IsString()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key \"", key, "\" must be a string, got ", JsonTypeName(**member)));
  }
  return std::string((*member)->GetString(), (*member)->GetStringLength());
}

absl::StatusOr<int64_t> ReadInt(const rapidjson::Value& payload) {
  if (!payload.IsInt64()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected an integer, got ", JsonTypeName(payload)));
  }
  return payload.GetInt64();
}

absl::StatusOr<double> ReadDouble(const rapidjson::Value& payload) {
  if (payload.IsNumber()) return payload.GetDouble();
  if (payload.IsString()) {
    absl::string_view text(payload.GetString(), payload.GetStringLength());
    if (text == "Infinity") return std::numeric_limits<double>::infinity();
    if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a number, \"Infinity\", \"-Infinity\" or \"NaN\", got \"",
        text, "\""));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("expected a number, got ", JsonTypeName(payload)));
}

absl::StatusOr<bool> ReadBool(const rapidjson::Value& payload) {
  if (!payload.IsBool()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a bool, got ", JsonTypeName(payload)));
  }
  return payload.GetBool();
}

absl::StatusOr<std::string> ReadString(const rapidjson::Value& payload) {
  if (!payload.IsString()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a string, got ", JsonTypeName(payload)));
  }
  return std::string(payload.GetString(), payload.GetStringLength());
}

absl::StatusOr<const rapidjson::Value*> ReadArray(
    const rapidjson::Value& payload) {
  if (!payload.IsArray()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected an array, got ", JsonTypeName(payload)));
  }
  return &payload;
}

}  // namespace aoti_executor
