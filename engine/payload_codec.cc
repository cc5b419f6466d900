#include "engine/payload_codec.h"

#include <flatbuffers/idl.h>
#include <flatbuffers/reflection.h>

#include <memory>

#include "log/event_types.h"

namespace logbook {

extern const std::string_view kEventsSchemaText;

namespace {

constexpr char kNamespace[] = "logbook.fb.";

struct CodecState {
  flatbuffers::Parser parser;
  std::string bfbs;  // binary schema for reflection-based verification
  const reflection::Schema* schema = nullptr;
  std::string error;

  CodecState() : parser(Options()) {
    const std::string text(kEventsSchemaText);
    if (!parser.Parse(text.c_str())) {
      error = "embedded schema does not parse: " + parser.error_;
      return;
    }
    parser.Serialize();
    bfbs.assign(reinterpret_cast<const char*>(parser.builder_.GetBufferPointer()),
                parser.builder_.GetSize());
    schema = reflection::GetSchema(bfbs.data());
  }

  static flatbuffers::IDLOptions Options() {
    flatbuffers::IDLOptions o;
    o.strict_json = true;
    o.output_default_scalars_in_json = true;
    o.indent_step = -1;
    o.skip_unexpected_fields_in_json = false;
    return o;
  }
};

CodecState& State() {
  thread_local std::unique_ptr<CodecState> state = std::make_unique<CodecState>();
  return *state;
}

Status SetRoot(CodecState& st, uint16_t type) {
  if (!st.error.empty()) return Status::Corruption(st.error);
  if (!IsKnownEventType(type)) {
    return Status::InvalidArgument("unknown event type " + std::to_string(type));
  }
  const std::string name = EventTypeName(type);
  if (!st.parser.SetRootType(name.c_str())) {
    return Status::Corruption("schema has no table for event type " + name);
  }
  return Status::OK();
}

}  // namespace

Result<std::string> PayloadCodec::Encode(uint16_t type, std::string_view json) {
  CodecState& st = State();
  if (Status s = SetRoot(st, type); !s.ok()) return s;
  const std::string text(json);
  if (!st.parser.ParseJson(text.c_str())) {
    std::string err = st.parser.error_;
    // The parser prefixes a file position; keep the message to one line.
    for (char& c : err) {
      if (c == '\n') c = ' ';
    }
    return Status::InvalidArgument(EventTypeName(type) + " payload: " + err);
  }
  return std::string(reinterpret_cast<const char*>(st.parser.builder_.GetBufferPointer()),
                     st.parser.builder_.GetSize());
}

Result<std::string> PayloadCodec::ToJson(uint16_t type, std::string_view payload) {
  CodecState& st = State();
  if (Status s = SetRoot(st, type); !s.ok()) return s;
  std::string aligned(payload);  // heap copy: aligned for in-place scalar reads
  const auto* obj =
      st.schema->objects()->LookupByKey((kNamespace + EventTypeName(type)).c_str());
  if (obj == nullptr) return Status::Corruption("schema has no object for " + EventTypeName(type));
  if (aligned.size() < 8 ||
      !flatbuffers::Verify(*st.schema, *obj, reinterpret_cast<const uint8_t*>(aligned.data()),
                           aligned.size())) {
    return Status::Corruption(EventTypeName(type) + " payload does not verify against the schema");
  }
  std::string out;
  if (!GenerateText(st.parser, aligned.data(), &out)) {
    return Status::Corruption(EventTypeName(type) + " payload cannot be printed as JSON");
  }
  return out;
}

}  // namespace logbook
