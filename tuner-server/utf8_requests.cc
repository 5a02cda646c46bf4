#include "tuner-server/utf8_requests.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/utf8.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpc/byte_buffer_reader.h"
#include "grpc/slice.h"

namespace tuner::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

std::string Problem(const std::string& text, size_t offset) {
  return absl::StrFormat("must be valid UTF-8 (byte %d is 0x%02x)", offset,
                         static_cast<unsigned char>(text[offset]));
}

// The first invalid string field under `path` in fields, read as a `descriptor` message.
std::optional<std::string> FindInvalid(const Descriptor& descriptor, const UnknownFieldSet& fields,
                                       const std::string& path, int depth) {
  if (depth > 32) return std::nullopt;  // deeper than any message of tuner.proto
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& field = fields.field(i);
    if (field.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const FieldDescriptor* known = descriptor.FindFieldByNumber(field.number());
    if (known == nullptr) continue;
    const std::string& bytes = field.length_delimited();
    const std::string name = path.empty() ? known->name() : absl::StrCat(path, ".", known->name());
    if (known->type() == FieldDescriptor::TYPE_STRING) {
      if (std::optional<size_t> bad = FirstInvalidUtf8(bytes)) {
        return absl::StrCat(name, ": ", Problem(bytes, *bad));
      }
    } else if (known->type() == FieldDescriptor::TYPE_MESSAGE) {
      UnknownFieldSet nested;
      if (!nested.ParseFromString(bytes)) continue;
      if (known->is_map()) {
        // name the map, and the entry by its key when the key is fine
        std::string key;
        for (int k = 0; k < nested.field_count(); ++k) {
          const UnknownField& part = nested.field(k);
          if (part.number() != 1 || part.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
          if (std::optional<size_t> bad = FirstInvalidUtf8(part.length_delimited())) {
            if (known->message_type()->field(0)->type() == FieldDescriptor::TYPE_STRING) {
              return absl::StrCat(name, ": keys ", Problem(part.length_delimited(), *bad));
            }
          }
          key = part.length_delimited();
        }
        const FieldDescriptor* value = known->message_type()->FindFieldByNumber(2);
        if (value == nullptr) continue;
        UnknownFieldSet values;
        for (int k = 0; k < nested.field_count(); ++k) {
          if (nested.field(k).number() == 2) values.AddField(nested.field(k));
        }
        const std::string entry = absl::StrCat(name, "[\"", key, "\"]");
        if (value->type() == FieldDescriptor::TYPE_STRING) {
          for (int k = 0; k < values.field_count(); ++k) {
            if (values.field(k).type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
            const std::string& text = values.field(k).length_delimited();
            if (std::optional<size_t> bad = FirstInvalidUtf8(text)) {
              return absl::StrCat(entry, ": ", Problem(text, *bad));
            }
          }
        } else if (value->type() == FieldDescriptor::TYPE_MESSAGE) {
          for (int k = 0; k < values.field_count(); ++k) {
            if (values.field(k).type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
            UnknownFieldSet inner;
            if (!inner.ParseFromString(values.field(k).length_delimited())) continue;
            if (auto found = FindInvalid(*value->message_type(), inner, entry, depth + 1)) {
              return found;
            }
          }
        }
        continue;
      }
      if (auto found = FindInvalid(*known->message_type(), nested, name, depth + 1)) return found;
    }
  }
  return std::nullopt;
}

}  // namespace

absl::Status CheckUtf8Fields(const Descriptor& descriptor, const std::string& wire) {
  UnknownFieldSet fields;
  if (!fields.ParseFromString(wire)) return absl::OkStatus();
  if (std::optional<std::string> problem = FindInvalid(descriptor, fields, "", 0)) {
    return absl::InvalidArgumentError(*problem);
  }
  return absl::OkStatus();
}

std::string CopyBytes(grpc_byte_buffer* buffer) {
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, buffer)) return "";
  grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
  std::string bytes(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
                    GRPC_SLICE_LENGTH(slice));
  grpc_slice_unref(slice);
  grpc_byte_buffer_reader_destroy(&reader);
  return bytes;
}

void MarkRefused(google::protobuf::Message* request, const absl::Status& refusal) {
  request->GetReflection()->MutableUnknownFields(request)->AddLengthDelimited(
      kRefusalField, std::string(refusal.message()));
}

std::optional<absl::Status> RefusalOf(const google::protobuf::Message& request) {
  const UnknownFieldSet& fields = request.GetReflection()->GetUnknownFields(request);
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& field = fields.field(i);
    if (field.number() == kRefusalField && field.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      return absl::InvalidArgumentError(field.length_delimited());
    }
  }
  return std::nullopt;
}

void DropRefusalMark(google::protobuf::Message* request) {
  if (request->GetReflection()->GetUnknownFields(*request).empty()) return;
  request->GetReflection()->MutableUnknownFields(request)->DeleteByNumber(kRefusalField);
}

int UnaryMethodIndex(const char* service, const char* method, const Descriptor* request) {
  const google::protobuf::ServiceDescriptor* found =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  const google::protobuf::MethodDescriptor* m = found ? found->FindMethodByName(method) : nullptr;
  if (m == nullptr || m->input_type() != request || m->client_streaming() ||
      m->server_streaming()) {
    std::fprintf(stderr, "tuner-server: no unary method %s.%s taking %s\n", service, method,
                 request->full_name().c_str());
    std::abort();
  }
  return m->index();
}

}  // namespace tuner::server
