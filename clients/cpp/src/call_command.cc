#include "call_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "cli_common.h"
#include "common/byte_buffer.h"
#include "common/method_path.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/channel.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/client_callback.h"
#include "message_codec.h"
#include "contracts/reflection_client.h"

namespace polymesh::cli {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::MethodDescriptor;

std::string ShowMetadataValue(absl::string_view key, absl::string_view value) {
  return absl::EndsWith(key, "-bin") ? absl::Base64Escape(value) : std::string(value);
}

void PrintMetadata(const char* what,
                   const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  for (const auto& [key, value] : metadata) {
    const absl::string_view k(key.data(), key.size());
    std::fprintf(stderr, "%s %.*s: %s\n", what, static_cast<int>(k.size()), k.data(),
                 ShowMetadataValue(k, absl::string_view(value.data(), value.size())).c_str());
  }
}

// One call of any kind, as a bidi stream of byte buffers (the wire is the
// same for every kind). The caller writes from its own thread, one request
// at a time; responses are printed as JSON on the library's thread.
class CallReactor final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  CallReactor(grpc::ClientContext& context, const Descriptor& response_type, JsonStyle style,
              bool verbose)
      : context_(context), response_type_(response_type), style_(style), verbose_(verbose) {}

  // Starts the call; the caller then calls Write() any number of times and
  // FinishWrites() once.
  void Start(grpc::GenericStub& stub, const std::string& path) {
    stub.PrepareBidiStreamingCall(&context_, path, grpc::StubOptions(), this);
    // Held until the caller has finished writing, so that the call cannot
    // end while a write may still start.
    AddHold();
    StartRead(&response_);
    StartCall();
  }

  // Sends one request; false once the call has ended.
  bool Write(const std::string& bytes) {
    grpc::Slice slice(bytes);
    request_ = grpc::ByteBuffer(&slice, 1);
    {
      absl::MutexLock lock(&mutex_);
      write_pending_ = true;
    }
    // Outside the lock: the library may run OnWriteDone on this thread.
    StartWrite(&request_);
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(
        +[](bool* pending) { return !*pending; }, &write_pending_));
    return write_ok_;
  }

  // Ends the requests (half-close when `writes_done`).
  void FinishWrites(bool writes_done) {
    if (writes_done) StartWritesDone();
    RemoveHold();
  }

  // Waits for the end of the call; its status.
  grpc::Status Await() {
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(&done_));
    return status_;
  }

  // A response that could not be read as the method's response type.
  std::optional<absl::Status> response_error() {
    absl::MutexLock lock(&mutex_);
    return response_error_;
  }

  void OnReadInitialMetadataDone(bool ok) override {
    if (ok && verbose_) PrintMetadata("<", context_.GetServerInitialMetadata());
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    absl::StatusOr<std::string> json =
        codec_.BinaryToJson(response_type_, gateway::ByteBufferToString(response_), style_);
    if (!json.ok()) {
      {
        absl::MutexLock lock(&mutex_);
        if (!response_error_.has_value()) response_error_ = json.status();
      }
      context_.TryCancel();
      return;
    }
    std::fprintf(stdout, "%s\n", json->c_str());
    std::fflush(stdout);
    StartRead(&response_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mutex_);
    write_ok_ = ok;
    write_pending_ = false;
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mutex_);
    status_ = status;
    done_ = true;
  }

 private:
  grpc::ClientContext& context_;
  const Descriptor& response_type_;
  const JsonStyle style_;
  const bool verbose_;
  MessageCodec codec_;  // used on the library's thread only
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  absl::Mutex mutex_;
  bool write_pending_ ABSL_GUARDED_BY(mutex_) = false;
  bool write_ok_ ABSL_GUARDED_BY(mutex_) = false;
  bool done_ ABSL_GUARDED_BY(mutex_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mutex_);
  std::optional<absl::Status> response_error_ ABSL_GUARDED_BY(mutex_);
};

// Where the requests come from.
struct RequestSource {
  // Requests given whole (the argument, or stdin for unary and server
  // streaming calls).
  std::vector<std::string> json;
  // Client and bidi streams with no argument read stdin line by line, each
  // request sent as soon as its line is read.
  bool stream_stdin = false;
};

absl::StatusOr<RequestSource> Requests(const MethodDescriptor& method,
                                       const std::optional<std::string>& argument) {
  RequestSource source;
  const bool from_stdin = !argument.has_value() || *argument == "-";
  if (method.client_streaming()) {
    if (from_stdin) {
      source.stream_stdin = true;
    } else {
      source.json = SplitJsonLines(*argument);
    }
    return source;
  }
  if (!from_stdin) {
    source.json = {*argument};
    return source;
  }
  // One request: from stdin unless it is a terminal, when it is {}.
  if (!argument.has_value() && isatty(STDIN_FILENO)) {
    source.json = {"{}"};
    return source;
  }
  std::ostringstream text;
  text << std::cin.rdbuf();
  source.json = SplitJsonLines(text.str());
  if (source.json.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        method.full_name(), " takes one request; stdin holds ", source.json.size()));
  }
  return source;
}

absl::Status AddMetadata(grpc::ClientContext& context, const std::vector<std::string>& headers) {
  for (const std::string& header : headers) {
    absl::StatusOr<MetadataEntry> entry = ParseMetadata(header);
    if (!entry.ok()) return entry.status();
    std::string value = entry->value;
    if (absl::EndsWith(entry->key, "-bin")) {
      // The library encodes binary values itself.
      std::string decoded;
      absl::Base64Unescape(entry->value, &decoded);
      value = std::move(decoded);
    }
    context.AddMetadata(entry->key, value);
  }
  return absl::OkStatus();
}

const char* Stream(bool streaming) { return streaming ? "stream " : ""; }

// How long --reflect waits for the server's answers.
constexpr absl::Duration kReflectionTimeout = absl::Seconds(10);

std::shared_ptr<grpc::Channel> MakeChannel(const HostPort& target) {
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  channel_args.SetMaxReceiveMessageSize(-1);
  channel_args.SetUserAgentPrefix("polymesh-call");
  return grpc::CreateCustomChannel(target.authority, grpc::InsecureChannelCredentials(),
                                   channel_args);
}

// The contracts: asked of the server (--reflect), else from descriptor sets.
// Reflection errors are the server's: exit 10 + code; others are bad input.
absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> Contracts(
    const ParsedArgs& args, grpc::Channel& channel, const std::vector<std::string>& services) {
  if (args.Has("reflect")) {
    return gateway::RegistryFromReflection(channel, services, kReflectionTimeout);
  }
  return LoadRegistry(args.Values("descriptor-set"));
}

int ContractsError(const ParsedArgs& args, const absl::Status& status) {
  // What the contracts lack is bad input; a server that cannot answer is the
  // call's failure.
  if (!args.Has("reflect") || status.code() == absl::StatusCode::kInvalidArgument ||
      status.code() == absl::StatusCode::kNotFound) {
    return BadInput(status);
  }
  PrintError(absl::StatusCodeToString(status.code()), status.message());
  return ExitCodeForGrpcStatus(static_cast<int>(status.code()));
}

int ListCommand(const ParsedArgs& args, const HostPort& target) {
  if (args.positional().size() > 1) {
    return UsageError("call", "--list takes at most one SERVICE prefix");
  }
  absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> registry =
      Contracts(args, *MakeChannel(target), {});
  if (!registry.ok()) return ContractsError(args, registry.status());
  const std::string filter = args.positional().empty() ? "" : args.positional()[0];
  const std::string listing = ListContracts(**registry, filter);
  if (listing.empty()) {
    return BadInput(absl::NotFoundError(absl::StrCat("no service starts with \"", filter, "\"")));
  }
  std::fputs(listing.c_str(), stdout);
  return kExitOk;
}

}  // namespace

const char kCallHelp[] =
    R"(usage: polymesh call [flags] METHOD [JSON]
       polymesh call --list [SERVICE]

Calls one gRPC method with a request written as JSON and prints each response
as JSON (one line each; --pretty indents). Any method of the contracts works,
of any kind: METHOD is /pkg.Service/Method, pkg.Service/Method or
pkg.Service.Method, and its types come from the contract registry (descriptor
sets), so no code is generated for it.

Requests: JSON is the request; '-' or no JSON reads stdin (when stdin is a
terminal, a unary or server-streaming call sends {}). Client and bidi streams
read one JSON object per line (JSON Lines) and send each as it is read; the
end of the input half-closes the stream. Responses of server and bidi streams
are printed as they arrive.

flags:
  --target HOST:PORT       the server: the gateway, or any gRPC server
                           (default 127.0.0.1:8080)
  -H, --header 'K: V'      request metadata (repeatable; -bin keys take base64)
  --deadline D             the call's deadline (2s, 250ms, 1m30s); none when
                           not given
  --descriptor-set FILE    a FileDescriptorSet with the contracts (repeatable;
                           default $POLYMESH_DESCRIPTOR_SET or the build's)
  --reflect                ask the server for the contracts instead (gRPC
                           server reflection, v1 or v1alpha; the gateway
                           answers it from its contracts)
  --list                   list the services and methods of the contracts
                           (optionally only those starting with SERVICE)
  --pretty                 indent the JSON of responses
  --emit-defaults          print fields that hold their default value
  -v, --verbose            print response headers and trailers on stderr
  -h, --help               this help

errors go to stderr as 'polymesh: CODE: message', with the status details
when the server sent some.

exit status:
  0          the call ended OK
  1          usage error (unknown flag, missing METHOD, bad flag value)
  2          bad input (unknown method, JSON that is not the request type,
             unreadable descriptor set, a response that is not the response
             type)
  10 + code  the call ended with gRPC status code (1..16): 11 CANCELLED,
             12 UNKNOWN, 13 INVALID_ARGUMENT, 14 DEADLINE_EXCEEDED,
             15 NOT_FOUND, 16 ALREADY_EXISTS, 17 PERMISSION_DENIED,
             18 RESOURCE_EXHAUSTED, 19 FAILED_PRECONDITION, 20 ABORTED,
             21 OUT_OF_RANGE, 22 UNIMPLEMENTED, 23 INTERNAL, 24 UNAVAILABLE
             (also: no connection), 25 DATA_LOSS, 26 UNAUTHENTICATED

examples:
  polymesh call --list
  polymesh call polymesh.testing.v1.EchoService/Unary '{"text": "hi"}'
  printf '{"text":"a"}\n{"text":"b"}\n' | polymesh call polymesh.testing.v1.EchoService/BidiStream
  polymesh call -H 'x-tenant: acme' --deadline 2s grpc.health.v1.Health/Check
)";

const std::vector<FlagSpec>& CallFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"target", 0, FlagSpec::kValue},         {"header", 'H', FlagSpec::kRepeated},
      {"deadline", 0, FlagSpec::kValue},       {"descriptor-set", 0, FlagSpec::kRepeated},
      {"list", 0, FlagSpec::kSwitch},          {"pretty", 0, FlagSpec::kSwitch},
      {"reflect", 0, FlagSpec::kSwitch},
      {"emit-defaults", 0, FlagSpec::kSwitch}, {"verbose", 'v', FlagSpec::kSwitch},
      {"help", 'h', FlagSpec::kSwitch},
  };
  return *flags;
}

std::string ListContracts(const gateway::ContractRegistry& registry, absl::string_view filter) {
  std::string out;
  for (const auto* service : registry.services()) {
    if (!absl::StartsWith(service->full_name(), filter)) continue;
    absl::StrAppend(&out, service->full_name(), "\n");
    for (int i = 0; i < service->method_count(); ++i) {
      const MethodDescriptor* method = service->method(i);
      absl::StrAppend(&out, "  rpc ", method->name(), "(", Stream(method->client_streaming()),
                      method->input_type()->full_name(), ") returns (",
                      Stream(method->server_streaming()), method->output_type()->full_name(),
                      ")\n");
    }
  }
  return out;
}

std::string DescribeStatusDetails(const gateway::ContractRegistry& registry,
                                  absl::string_view details) {
  using ::google::protobuf::internal::WireFormatLite;
  if (details.empty()) return "";
  const auto not_a_status = absl::StrCat("  details: ", details.size(),
                                         " bytes that are not a google.rpc.Status\n");
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(details.data()),
                                            static_cast<int>(details.size()));
  uint32_t code = 0;
  std::string message;
  std::vector<std::string> anys;
  while (const uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto type = WireFormatLite::GetTagWireType(tag);
    if (field == 1 && type == WireFormatLite::WIRETYPE_VARINT) {
      if (!in.ReadVarint32(&code)) return not_a_status;
    } else if ((field == 2 || field == 3) && type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::string bytes;
      if (!WireFormatLite::ReadBytes(&in, &bytes)) return not_a_status;
      if (field == 2) {
        message = std::move(bytes);
      } else {
        anys.push_back(std::move(bytes));
      }
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return not_a_status;
    }
  }
  if (!in.ConsumedEntireMessage()) return not_a_status;
  std::string out = absl::StrCat("  details: code ", code, ", message \"", message, "\"\n");
  MessageCodec codec;
  for (const std::string& any : anys) {
    std::string type_url;
    std::string value;
    google::protobuf::io::CodedInputStream any_in(reinterpret_cast<const uint8_t*>(any.data()),
                                                  static_cast<int>(any.size()));
    while (const uint32_t tag = any_in.ReadTag()) {
      const int field = WireFormatLite::GetTagFieldNumber(tag);
      if (field == 1 || field == 2) {
        if (!WireFormatLite::ReadBytes(&any_in, field == 1 ? &type_url : &value)) break;
      } else if (!WireFormatLite::SkipField(&any_in, tag)) {
        break;
      }
    }
    const absl::string_view type_name = absl::string_view(type_url).substr(type_url.rfind('/') + 1);
    const Descriptor* type = registry.pool().FindMessageTypeByName(std::string(type_name));
    absl::StatusOr<std::string> json = type == nullptr
                                           ? absl::NotFoundError("unknown type")
                                           : codec.BinaryToJson(*type, value, JsonStyle{});
    absl::StrAppend(&out, "  detail ", type_url, ": ",
                    json.ok() ? *json : absl::StrCat(value.size(), " bytes"), "\n");
  }
  return out;
}

int RunCallCommand(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(CallFlags(), args);
  if (!parsed.ok()) return UsageError("call", parsed.status().message());
  if (parsed->Has("help")) {
    std::fputs(kCallHelp, stdout);
    return kExitOk;
  }
  absl::StatusOr<HostPort> target =
      ParseHostPort(parsed->Value("target").value_or("127.0.0.1:8080"));
  if (!target.ok()) return UsageError("call", absl::StrCat("--target: ", target.status().message()));
  if (parsed->Has("reflect") && parsed->Has("descriptor-set")) {
    return UsageError("call", "--reflect and --descriptor-set exclude each other");
  }
  if (parsed->Has("list")) return ListCommand(*parsed, *target);
  const std::vector<std::string>& positional = parsed->positional();
  if (positional.empty()) return UsageError("call", "missing METHOD");
  if (positional.size() > 2) {
    return UsageError("call", absl::StrCat("too many arguments (expected METHOD [JSON]): \"",
                                           positional[2], "\""));
  }
  std::optional<absl::Duration> deadline;
  if (auto value = parsed->Value("deadline"); value.has_value()) {
    absl::StatusOr<absl::Duration> d = ParseDurationValue("deadline", *value);
    if (!d.ok()) return UsageError("call", d.status().message());
    deadline = *d;
  }
  grpc::ClientContext context;
  if (absl::Status added = AddMetadata(context, parsed->Values("header")); !added.ok()) {
    return UsageError("call", added.message());
  }

  std::shared_ptr<grpc::Channel> channel = MakeChannel(*target);
  const std::string path = MethodPath(positional[0]);
  const std::optional<gateway::MethodPath> method_path = gateway::MethodPath::Parse(path);
  const std::string service(method_path.has_value() ? method_path->service()
                                                    : absl::StripPrefix(path, "/"));
  absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> registry =
      Contracts(*parsed, *channel, {service});
  if (!registry.ok()) return ContractsError(*parsed, registry.status());
  absl::StatusOr<const MethodDescriptor*> method = FindMethod(**registry, positional[0]);
  if (!method.ok()) return BadInput(method.status());
  std::optional<std::string> argument;
  if (positional.size() == 2) argument = positional[1];
  absl::StatusOr<RequestSource> source = Requests(**method, argument);
  if (!source.ok()) return BadInput(source.status());
  // Requests given whole are all checked before anything is sent.
  MessageCodec request_codec;
  std::vector<std::string> requests;
  for (const std::string& json : source->json) {
    absl::StatusOr<std::string> bytes = request_codec.JsonToBinary(*(*method)->input_type(), json);
    if (!bytes.ok()) return BadInput(bytes.status());
    requests.push_back(*std::move(bytes));
  }

  grpc::GenericStub stub(channel);
  if (deadline.has_value()) {
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoNanoseconds(*deadline));
  }
  JsonStyle style;
  style.pretty = parsed->Has("pretty");
  style.emit_defaults = parsed->Has("emit-defaults");
  const bool verbose = parsed->Has("verbose");
  CallReactor reactor(context, *(*method)->output_type(), style, verbose);
  reactor.Start(stub, MethodPath(**method));

  std::optional<absl::Status> input_error;
  bool open = true;
  for (const std::string& request : requests) {
    if (!(open = reactor.Write(request))) break;
  }
  if (source->stream_stdin) {
    std::string line;
    for (int number = 1; open && std::getline(std::cin, line); ++number) {
      const absl::string_view json = absl::StripAsciiWhitespace(line);
      if (json.empty()) continue;
      absl::StatusOr<std::string> bytes =
          request_codec.JsonToBinary(*(*method)->input_type(), json);
      if (!bytes.ok()) {
        input_error = absl::InvalidArgumentError(
            absl::StrCat("stdin line ", number, ": ", bytes.status().message()));
        context.TryCancel();
        break;
      }
      open = reactor.Write(*bytes);
    }
  }
  reactor.FinishWrites(/*writes_done=*/open && !input_error.has_value());
  const grpc::Status status = reactor.Await();
  if (verbose) PrintMetadata("<", context.GetServerTrailingMetadata());
  if (input_error.has_value()) return BadInput(*input_error);
  if (std::optional<absl::Status> bad = reactor.response_error(); bad.has_value()) {
    return BadInput(*bad);
  }
  if (status.ok()) return kExitOk;
  const int code = static_cast<int>(status.error_code());
  PrintError(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)),
             status.error_message());
  std::fputs(DescribeStatusDetails(**registry, status.error_details()).c_str(), stderr);
  return ExitCodeForGrpcStatus(code);
}

}  // namespace polymesh::cli
