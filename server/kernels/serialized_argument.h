// Reading the `Argument` union of torch/_export/serde/schema.py from JSON.
//
// The serializer writes a union as a one-key object, {"as_tensor": {...}};
// these helpers unpack it and read payloads with errors that say what was
// expected, so the binders never touch RapidJSON's asserting accessors.
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_SERIALIZED_ARGUMENT_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_SERIALIZED_ARGUMENT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace aoti_executor {

// One unpacked union value: its key ("as_int") and payload.
struct SerializedArgument {
  absl::string_view key;
  const rapidjson::Value* payload = nullptr;
};

// Unpacks {"as_x": payload}. Fails unless `value` is an object with one key.
absl::StatusOr<SerializedArgument> UnpackArgument(
    const rapidjson::Value& value);

// Members of an object, with errors naming `key`.
absl::StatusOr<const rapidjson::Value*> GetMember(
    const rapidjson::Value& object, const char* key);
absl::StatusOr<const rapidjson::Value*> GetArrayMember(
    const rapidjson::Value& object, const char* key);
absl::StatusOr<std::string> GetStringMember(const rapidjson::Value& object,
                                            const char* key);

// Payload readers. ReadDouble accepts numbers, bare NaN/Infinity tokens and
// the strings "Infinity", "-Infinity" and "NaN" that PyTorch writes for
// non-finite floats.
absl::StatusOr<int64_t> ReadInt(const rapidjson::Value& payload);
absl::StatusOr<double> ReadDouble(const rapidjson::Value& payload);
absl::StatusOr<bool> ReadBool(const rapidjson::Value& payload);
absl::StatusOr<std::string> ReadString(const rapidjson::Value& payload);
absl::StatusOr<const rapidjson::Value*> ReadArray(
    const rapidjson::Value& payload);

// A short description of a JSON value's type, for messages ("a string").
const char* JsonTypeName(const rapidjson::Value& value);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_SERIALIZED_ARGUMENT_H_
