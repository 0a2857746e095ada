#include "client_shim/loader/model_package.h"

#include <caffe2/serialize/inline_container.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client_shim/last_error.h"
#include "rapidjson/document.h"
#include "server/common/status_macros.h"
#include "server/common/unique_fd.h"

namespace aoti_executor {
namespace client {
namespace {

namespace fs = std::filesystem;

constexpr char kSoSuffix[] = ".so";
constexpr char kJsonSuffix[] = ".json";
// The extern-kernel JSON's name once extracted: not <so minus .so>.json.
constexpr char kMovedJsonSuffix[] = ".extern_kernels";

std::string TempRoot() {
  const char* dir = std::getenv("TMPDIR");
  return dir != nullptr && dir[0] != '\0' ? dir : "/tmp";
}

// A record's path below the model folder, if it is a plain relative path
// that stays inside it ("a/b.so", never "../x", "/x" or "a//b").
bool IsSafeRelativePath(absl::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

absl::Status WriteFile(const std::string& path, const void* data, size_t n) {
  UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return absl::InternalError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  const char* bytes = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t written = ::write(fd.get(), bytes, n);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      return absl::InternalError(
          absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
    }
    bytes += written;
    n -= static_cast<size_t>(written);
  }
  // Closed by hand: a write error may only show up here.
  if (::close(fd.release()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unordered_map<std::string, std::string>> ReadMetadata(
    const std::string& text, const std::string& name) {
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  if (document.HasParseError() || !document.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " is not a JSON object"));
  }
  std::unordered_map<std::string, std::string> metadata;
  for (const auto& member : document.GetObject()) {
    if (!member.value.IsString()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": the value of '",
                                                     member.name.GetString(),
                                                     "' is not a string"));
    }
    metadata.emplace(member.name.GetString(), member.value.GetString());
  }
  return metadata;
}

// The model's .so among `files` (paths below the model folder): the one
// with a <base>_metadata.json beside it, a .wrapper.so if there are several
// (Triton-CPU packages also hold kernel .so files).
absl::StatusOr<std::string> FindModelSo(const std::vector<std::string>& files,
                                        const std::string& where) {
  std::vector<std::string> candidates;
  for (const std::string& file : files) {
    if (!absl::EndsWith(file, kSoSuffix)) continue;
    const std::string base = file.substr(0, file.size() - 3);
    if (std::find(files.begin(), files.end(), base + "_metadata.json") !=
        files.end()) {
      candidates.push_back(file);
    }
  }
  if (candidates.size() == 1) return candidates[0];
  for (const std::string& candidate : candidates) {
    if (absl::EndsWith(candidate, ".wrapper.so")) return candidate;
  }
  if (candidates.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " holds no compiled model .so with its _metadata.json (",
        files.empty() ? "no files" : absl::StrJoin(files, ", "),
        "); a package compiled with aot_inductor.package_cpp_only must be "
        "built first"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, " holds several model .so files (",
                   absl::StrJoin(candidates, ", "), ") and no .wrapper.so"));
}

}  // namespace

absl::StatusOr<ModelPackage> ModelPackage::Extract(
    const std::string& package_path, const std::string& model_name) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader =
        std::make_unique<caffe2::serialize::PyTorchStreamReader>(package_path);
  } catch (...) {
    return WithContext(CurrentExceptionStatus(),
                       absl::StrCat("cannot open the package ", package_path));
  }
  const std::string where =
      absl::StrCat(package_path, ": model '", model_name, "'");
  if (!IsSafeRelativePath(model_name) || absl::StrContains(model_name, '/')) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": a model name is one plain folder name"));
  }
  const std::string prefix = absl::StrCat("data/aotinductor/", model_name, "/");

  std::vector<std::string> records;
  std::vector<std::string> models;
  try {
    records = reader->getAllRecords();
  } catch (...) {
    return WithContext(CurrentExceptionStatus(),
                       absl::StrCat("cannot read the package ", package_path));
  }
  std::vector<std::string> files;  // below the model folder
  for (const std::string& record : records) {
    if (absl::StartsWith(record, "data/weights/") ||
        absl::StartsWith(record, "data/constants/custom_obj_")) {
      if (absl::StartsWith(record, "data/weights/")) {
        return absl::UnimplementedError(absl::StrCat(
            where, ": the package stores weights outside the model .so (",
            record,
            "); compile with aot_inductor.package_constants_in_so=True (the "
            "default)"));
      }
      return absl::UnimplementedError(
          absl::StrCat(where, ": the package holds torchbind objects (", record,
                       "), which aoti-executord cannot run"));
    }
    if (absl::StartsWith(record, "data/aotinductor/")) {
      std::string model = record.substr(strlen("data/aotinductor/"));
      model = model.substr(0, model.find('/'));
      if (std::find(models.begin(), models.end(), model) == models.end()) {
        models.push_back(model);
      }
    }
    if (!absl::StartsWith(record, prefix)) continue;
    const std::string file = record.substr(prefix.size());
    if (!IsSafeRelativePath(file)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": entry '", record,
                       "' would land outside the model's folder"));
    }
    if (file == "custom_objs_config.json") {
      return absl::UnimplementedError(
          absl::StrCat(where,
                       ": the model uses torchbind objects "
                       "(custom_objs_config.json), which aoti-executord "
                       "cannot run"));
    }
    if (file == "weights_config.json") {
      return absl::UnimplementedError(absl::StrCat(
          where,
          ": the package stores weights outside the model .so "
          "(weights_config.json); compile with "
          "aot_inductor.package_constants_in_so=True (the default)"));
    }
    files.push_back(file);
  }
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat(
        where, ": no such model; the package holds ",
        models.empty()
            ? "no AOTInductor model"
            : absl::StrCat("'", absl::StrJoin(models, "', '"), "'")));
  }
  AOTI_ASSIGN_OR_RETURN(const std::string so_file, FindModelSo(files, where));
  const std::string base = so_file.substr(0, so_file.size() - 3);

  std::string root = absl::StrCat(TempRoot(), "/aoti_remote.XXXXXX");
  if (::mkdtemp(root.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot create a temporary directory in ", TempRoot(),
                     ": ", std::strerror(errno)));
  }
  ModelPackage package(root);  // removes the directory on every failure
  package.directory_ = absl::StrCat(root, "/", model_name);
  for (const std::string& file : files) {
    std::string path = absl::StrCat(package.directory_, "/", file);
    if (file == base + kJsonSuffix) {
      path += kMovedJsonSuffix;
      package.json_path_ = path;
    }
    std::error_code error;
    fs::create_directories(fs::path(path).parent_path(), error);
    if (error) {
      return absl::InternalError(absl::StrCat("cannot create the folder of ",
                                              path, ": ", error.message()));
    }
    at::DataPtr data;
    size_t size = 0;
    try {
      std::tie(data, size) = reader->getRecord(prefix + file);
    } catch (...) {
      return WithContext(CurrentExceptionStatus(),
                         absl::StrCat(where, ": cannot read ", file));
    }
    AOTI_RETURN_IF_ERROR(WriteFile(path, data.get(), size));
    if (file == base + "_metadata.json") {
      AOTI_ASSIGN_OR_RETURN(
          package.metadata_,
          ReadMetadata(std::string(static_cast<const char*>(data.get()), size),
                       absl::StrCat(where, ": ", file)));
    }
  }
  package.so_path_ = absl::StrCat(package.directory_, "/", so_file);
  return package;
}

ModelPackage::ModelPackage(ModelPackage&& other) noexcept
    : root_(std::exchange(other.root_, std::string())),
      directory_(std::move(other.directory_)),
      so_path_(std::move(other.so_path_)),
      json_path_(std::move(other.json_path_)),
      metadata_(std::move(other.metadata_)) {}

ModelPackage::~ModelPackage() {
  if (root_.empty()) return;
  std::error_code ignored;
  fs::remove_all(root_, ignored);
}

}  // namespace client
}  // namespace aoti_executor
