// Utf8CheckedUnary: a unary callback handler that answers a request whose string fields are
// not valid UTF-8 with INVALID_ARGUMENT naming the field. Protobuf refuses to parse such a
// request (proto3 `string` fields must be valid UTF-8), and gRPC's generated handler then
// fails the call as UNIMPLEMENTED with no message (issue 13, row 7). This handler parses as the
// generated one does; only when that fails does it look at the raw bytes (as unknown fields,
// read against the request's descriptor) for the field to name, and hands the method a marked
// empty request that the wrapper answers without calling it.
#ifndef TUNER_TUNER_SERVER_UTF8_REQUESTS_H_
#define TUNER_TUNER_SERVER_UTF8_REQUESTS_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpc/byte_buffer.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "grpcpp/support/message_allocator.h"
#include "tuner-server/unary.h"

namespace tuner::server {

// INVALID_ARGUMENT naming the first string field of a serialized `descriptor` message (in
// nested messages and map entries too) that is not valid UTF-8: "spec_yaml: must be valid
// UTF-8 (byte 5 is 0xff)". OK when every string field is valid or the bytes do not parse.
absl::Status CheckUtf8Fields(const google::protobuf::Descriptor& descriptor,
                             const std::string& wire);

// The bytes of a received message (decompressed), without consuming it.
std::string CopyBytes(grpc_byte_buffer* buffer);

// The field number that marks a request refused before its method runs; a client's own field
// of that number is dropped.
inline constexpr int kRefusalField = 536870911;  // the largest field number
void MarkRefused(google::protobuf::Message* request, const absl::Status& refusal);
std::optional<absl::Status> RefusalOf(const google::protobuf::Message& request);
void DropRefusalMark(google::protobuf::Message* request);

// The index gRPC's generated code gives `method` of `service` (its place in the .proto);
// aborts when there is no such unary method taking Request (a programming error).
int UnaryMethodIndex(const char* service, const char* method,
                     const google::protobuf::Descriptor* request);

// Thread-safe as the method it wraps is.
template <typename Request, typename Response>
class Utf8CheckedUnary : public grpc::internal::MethodHandler {
 public:
  using Method = std::function<grpc::ServerUnaryReactor*(grpc::CallbackServerContext*,
                                                         const Request*, Response*)>;
  explicit Utf8CheckedUnary(Method method)
      : inner_([method = std::move(method)](grpc::CallbackServerContext* context,
                                            const Request* request, Response* response) {
          if (std::optional<absl::Status> refusal = RefusalOf(*request)) {
            return Answer(context, *refusal);
          }
          return method(context, request, response);
        }) {}

  void RunHandler(const HandlerParameter& param) override { inner_.RunHandler(param); }

  void* Deserialize(grpc_call* call, grpc_byte_buffer* req, grpc::Status* status,
                    void** handler_data) override {
    // The inner handler consumes req; keep a reference to its slices for the diagnosis.
    grpc_byte_buffer* copy = req != nullptr ? grpc_byte_buffer_copy(req) : nullptr;
    void* request = inner_.Deserialize(call, req, status, handler_data);
    if (request != nullptr) {
      DropRefusalMark(static_cast<Request*>(request));
    } else if (copy != nullptr && *handler_data != nullptr) {
      absl::Status utf8 = CheckUtf8Fields(*Request::descriptor(), CopyBytes(copy));
      if (!utf8.ok()) {
        Request* empty = static_cast<grpc::MessageHolder<Request, Response>*>(*handler_data)
                             ->request();
        empty->Clear();
        MarkRefused(empty, utf8);
        *status = grpc::Status::OK;
        request = empty;
      }
    }
    if (copy != nullptr) grpc_byte_buffer_destroy(copy);
    return request;
  }

 private:
  grpc::internal::CallbackUnaryHandler<Request, Response> inner_;
};

// The (index, handler) pair for MarkMethodCallback: service->*method behind the UTF-8 check.
template <typename Service, typename Request, typename Response>
std::pair<int, grpc::internal::MethodHandler*> Utf8Checked(
    Service* service, const char* service_name, const char* method_name,
    grpc::ServerUnaryReactor* (Service::*method)(grpc::CallbackServerContext*, const Request*,
                                                 Response*)) {
  return {UnaryMethodIndex(service_name, method_name, Request::descriptor()),
          new Utf8CheckedUnary<Request, Response>(
              [service, method](grpc::CallbackServerContext* context, const Request* request,
                                Response* response) {
                return (service->*method)(context, request, response);
              })};
}

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_UTF8_REQUESTS_H_
