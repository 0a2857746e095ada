#include "server/kernels/kernel_set.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/encodedstream.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "server/common/status_macros.h"
#include "server/kernels/serialized_argument.h"

namespace aoti_executor {

namespace {

using JsonStream =
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>;

// Builds the document from the reader's events, as Document::Parse does, and
// notes on the way where each element of the top-level "nodes" array lies in
// the text: one pass gives both the parse and the spans workers need.
class SpanRecordingHandler {
 public:
  SpanRecordingHandler(rapidjson::Document* document, const JsonStream* stream,
                       std::vector<NodeSpan>* spans, std::stop_token stop)
      : document_(*document),
        stream_(*stream),
        spans_(*spans),
        stop_(std::move(stop)) {}

  bool Null() { return document_.Null(); }
  bool Bool(bool b) { return document_.Bool(b); }
  bool Int(int i) { return document_.Int(i); }
  bool Uint(unsigned u) { return document_.Uint(u); }
  bool Int64(int64_t i) { return document_.Int64(i); }
  bool Uint64(uint64_t u) { return document_.Uint64(u); }
  bool Double(double d) { return document_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return document_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return document_.String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    // Only the first "nodes" counts: it is the member the parse looks up.
    next_is_nodes_ =
        depth_ == 1 && !seen_nodes_ && absl::string_view(s, n) == "nodes";
    return document_.Key(s, n, copy);
  }
  bool StartObject() {
    // Returning false ends the parse; once per object is often enough.
    if (stop_.stop_requested()) return false;
    // The reader has consumed the '{'.
    if (in_nodes_ && depth_ == 2) node_start_ = stream_.Tell() - 1;
    ++depth_;
    return document_.StartObject();
  }
  bool EndObject(rapidjson::SizeType members) {
    --depth_;
    // ... and the '}'.
    if (in_nodes_ && depth_ == 2) {
      spans_.push_back(NodeSpan{node_start_, stream_.Tell() - node_start_});
    }
    return document_.EndObject(members);
  }
  bool StartArray() {
    if (next_is_nodes_) {
      in_nodes_ = true;
      seen_nodes_ = true;
    }
    next_is_nodes_ = false;
    ++depth_;
    return document_.StartArray();
  }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    if (depth_ == 1) in_nodes_ = false;
    return document_.EndArray(elements);
  }

 private:
  rapidjson::Document& document_;
  const JsonStream& stream_;
  std::vector<NodeSpan>& spans_;
  std::stop_token stop_;
  int depth_ = 0;
  bool next_is_nodes_ = false;
  bool seen_nodes_ = false;
  bool in_nodes_ = false;
  uint64_t node_start_ = 0;
};

absl::Status MalformedJson(const rapidjson::ParseResult& result) {
  return absl::InvalidArgumentError(absl::StrCat(
      "extern kernel JSON is malformed at offset ", result.Offset(), ": ",
      rapidjson::GetParseError_En(result.Code())));
}

absl::Status Stopped() {
  return absl::CancelledError("parsing the extern kernel JSON was stopped");
}

}  // namespace

absl::StatusOr<KernelSet> KernelSet::Parse(absl::string_view json,
                                           c10::Device device,
                                           std::stop_token stop) {
  rapidjson::MemoryStream memory(json.data(), json.size());
  JsonStream stream(memory);
  std::vector<NodeSpan> spans;
  rapidjson::Document document;
  rapidjson::Reader reader;
  rapidjson::ParseResult parsed;
  auto parse = [&](rapidjson::Document& d) {
    SpanRecordingHandler handler(&d, &stream, &spans, stop);
    // Python's json.dumps writes non-finite floats as bare NaN / Infinity.
    parsed = reader.Parse<rapidjson::kParseNanAndInfFlag>(stream, handler);
    return !parsed.IsError();
  };
  document.Populate(parse);
  if (stop.stop_requested()) return Stopped();
  if (parsed.IsError()) return MalformedJson(parsed);
  auto nodes = GetArrayMember(document, "nodes");
  if (!nodes.ok()) return WithContext(nodes.status(), "extern kernel JSON");

  KernelSet set(device);
  set.kernels_.reserve((*nodes)->Size());
  for (rapidjson::SizeType i = 0; i < (*nodes)->Size(); ++i) {
    if (stop.stop_requested()) return Stopped();
    AOTI_ASSIGN_OR_RETURN(
        OpKernel kernel,
        OpKernel::FromJson(static_cast<int>(i), (**nodes)[i], device));
    set.kernels_.push_back(std::move(kernel));
  }
  // Every node is an object (FromJson checked), so each has its span.
  set.node_spans_ = std::move(spans);
  return set;
}

absl::StatusOr<OpKernel> KernelSet::ParseNode(absl::string_view node_json,
                                              int node_index,
                                              c10::Device device) {
  rapidjson::Document node;
  node.Parse<rapidjson::kParseNanAndInfFlag>(node_json.data(),
                                             node_json.size());
  if (node.HasParseError()) {
    return WithContext(MalformedJson(node),
                       absl::StrCat("extern node ", node_index));
  }
  return OpKernel::FromJson(node_index, node, device);
}

absl::StatusOr<KernelSet> KernelSet::Load(const std::string& path,
                                          c10::Device device) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(
        absl::StrCat("cannot open extern kernel JSON '", path, "'"));
  }
  std::ostringstream text;
  text << file.rdbuf();
  auto set = Parse(text.str(), device);
  if (!set.ok()) return WithContext(set.status(), path);
  return set;
}

absl::Status CheckNodeIndex(int64_t extern_node_index, size_t size) {
  if (extern_node_index >= 0 &&
      extern_node_index < static_cast<int64_t>(size)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("extern node index ", extern_node_index,
                   " is out of range: the kernel set has ", size, " nodes"));
}

absl::StatusOr<const OpKernel*> KernelSet::Find(
    int64_t extern_node_index) const {
  AOTI_RETURN_IF_ERROR(CheckNodeIndex(extern_node_index, kernels_.size()));
  return &kernels_[extern_node_index];
}

}  // namespace aoti_executor
