#include "bench_command.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli_common.h"
#include "common/grpc_status.h"
#include "common/json.h"
#include "message_codec.h"

namespace polymesh::cli {
namespace {

using ::polymesh::gateway::GrpcStatusName;
using ::polymesh::gateway::JsonString;

constexpr int kDefaultConnections = 4;
constexpr int kDefaultConcurrency = 50;
constexpr absl::Duration kDefaultDuration = absl::Seconds(10);
constexpr absl::Duration kDefaultWarmup = absl::Seconds(1);

std::string JsonNumber(double value) { return absl::StrFormat("%.3f", value); }

double Us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string LatencyJson(const LatencyHistogram& h) {
  return absl::StrCat("{\"min\": ", JsonNumber(Us(h.min())), ", \"mean\": ", JsonNumber(h.mean() / 1000.0),
                      ", \"p50\": ", JsonNumber(Us(h.ValueAtPercentile(50))),
                      ", \"p90\": ", JsonNumber(Us(h.ValueAtPercentile(90))),
                      ", \"p99\": ", JsonNumber(Us(h.ValueAtPercentile(99))),
                      ", \"p999\": ", JsonNumber(Us(h.ValueAtPercentile(99.9))),
                      ", \"max\": ", JsonNumber(Us(h.max())), "}");
}

std::string LatencyLine(const LatencyHistogram& h) {
  return absl::StrFormat("p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us",
                         Us(h.ValueAtPercentile(50)), Us(h.ValueAtPercentile(90)),
                         Us(h.ValueAtPercentile(99)), Us(h.ValueAtPercentile(99.9)),
                         Us(h.max()));
}

double PerSecond(uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

bool IsStreaming(CallKind kind) { return kind != CallKind::kUnary; }

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

CallKind KindOf(const google::protobuf::MethodDescriptor& method) {
  if (method.client_streaming() && method.server_streaming()) return CallKind::kBidiStreaming;
  if (method.client_streaming()) return CallKind::kClientStreaming;
  if (method.server_streaming()) return CallKind::kServerStreaming;
  return CallKind::kUnary;
}

// Fills in the method's path, kind and request from the registry (or the
// data file). INVALID_ARGUMENT / NOT_FOUND for bad input.
absl::Status ResolveRequest(BenchOptions& options) {
  LoadSpec& spec = options.spec;
  absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> registry =
      LoadRegistry(options.descriptor_sets);
  // Raw bytes need no registry: then the call is unary unless the registry
  // knows better.
  if (options.data_file.has_value()) {
    absl::StatusOr<std::string> data = ReadFile(*options.data_file);
    if (!data.ok()) return data.status();
    spec.request = *std::move(data);
    spec.path = MethodPath(options.method);
    if (registry.ok()) {
      if (const auto* method = (*registry)->FindMethod(options.method); method != nullptr) {
        spec.path = MethodPath(*method);
        spec.kind = KindOf(*method);
      }
    }
    return absl::OkStatus();
  }
  if (!registry.ok()) return registry.status();
  absl::StatusOr<const google::protobuf::MethodDescriptor*> method =
      FindMethod(**registry, options.method);
  if (!method.ok()) return method.status();
  spec.path = MethodPath(**method);
  spec.kind = KindOf(**method);
  MessageCodec codec;
  absl::StatusOr<std::string> request =
      codec.JsonToBinary(*(*method)->input_type(), options.json.value_or("{}"));
  if (!request.ok()) return request.status();
  spec.request = *std::move(request);
  return absl::OkStatus();
}

void PrintProgress(const LoadProgress& p, uint64_t& last_calls, double& last_elapsed) {
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::string line;
  if (p.warmup) {
    line = absl::StrFormat("[%5.1fs] warming up", p.elapsed_s);
  } else {
    const double rate = PerSecond(p.calls - last_calls, p.elapsed_s - last_elapsed);
    line = absl::StrFormat("[%5.1fs] calls %d  %.0f/s  p99 %.1f us  errors %d", p.elapsed_s,
                           p.calls, rate, Us(p.p99_ns), p.errors);
    last_calls = p.calls;
  }
  last_elapsed = p.elapsed_s;
  // On a terminal the line is rewritten in place; elsewhere it is a log.
  std::fprintf(stderr, tty ? "\r%-72s" : "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace

const char kBenchHelp[] =
    R"(usage: polymesh bench [flags] METHOD [JSON]

Sends load to one gRPC method over HTTP/2 and reports throughput, latency
percentiles and errors by gRPC status code. METHOD is /pkg.Service/Method,
pkg.Service/Method or pkg.Service.Method; JSON is the request message (default
{}), converted through the contract registry; --data-file sends raw bytes
instead. Every call sends the same request.

Closed loop (default): --concurrency calls are always in flight; each call
that ends starts the next. Open loop (--rate R): R calls per second on a fixed
schedule, whatever the server does; latency runs from each call's INTENDED
send time, so a server that falls behind shows it (no coordinated omission).

Streaming methods: client streams send --stream-messages requests per call;
server streams send one and count every response; bidi streams play ping-pong,
--stream-messages round trips per call, each timed (message_latency_us).

The run warms up (--warmup, not counted), then measures for --duration or
until --calls calls were started, whichever comes first; calls still in flight
then get their deadline (or 10s) to end and are cancelled after.

flags:
  --target HOST:PORT       the server (default 127.0.0.1:8080)
  --concurrency N          closed loop: calls in flight (default 50)
  --rate R                 open loop: calls per second (excludes --concurrency)
  --connections N          HTTP/2 connections (default 4)
  --threads N              threads, one event loop each (default: one per
                           core, at most --connections)
  --warmup D               warmup time, not counted (default 1s)
  --duration D             measured time (default 10s, or unbounded by time
                           when --calls is given)
  --calls N                measured calls to start (default: no limit)
  --deadline D             each call's deadline, sent as grpc-timeout
  --stream-messages N      requests per client or bidi stream call (default 1)
  -H, --header 'K: V'      request metadata (repeatable; -bin keys take base64)
  --data-file FILE         the request as one serialized message (no JSON)
  --unique MARKER          replace MARKER in the request, per call, by a
                           zero-padded counter of the same length, so each
                           call differs (e.g. a new email per CreateUser)
  --unique-first N         the counter's first value (default 0); the report's
                           unique_next is where the next run should start
  --descriptor-set FILE    a FileDescriptorSet with the contracts (repeatable;
                           default $POLYMESH_DESCRIPTOR_SET or the build's)
  --json FILE              write the report as JSON to FILE ('-': stdout, and
                           the summary goes to stderr)
  --quiet                  no progress line on stderr
  -h, --help               this help

Durations: 2s, 250ms, 1m30s or a number of seconds.

output: a progress line on stderr once a second (elapsed, calls, calls/s, p99
so far, errors), then a summary; --json adds the report (fields in
docs/cli.md: calls, errors_by_code, duration_s, calls_per_s, latency_us
{p50,p90,p99,p999,max}, mode, concurrency, rate, connections, ...).

exit status: 0 every measured call OK; 1 usage error; 2 bad input (unknown
method, bad JSON, unreadable file); 3 some calls failed (report still
written); 24 (10 + UNAVAILABLE) no connection could be made.

example:
  polymesh bench --rate 2000 --duration 10s --json out.json \
      polymesh.testing.v1.EchoService/Unary '{"text": "hi"}'
)";

const std::vector<FlagSpec>& BenchFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"target", 0, FlagSpec::kValue},       {"concurrency", 0, FlagSpec::kValue},
      {"rate", 0, FlagSpec::kValue},         {"connections", 0, FlagSpec::kValue},
      {"threads", 0, FlagSpec::kValue},      {"warmup", 0, FlagSpec::kValue},
      {"duration", 0, FlagSpec::kValue},     {"calls", 0, FlagSpec::kValue},
      {"deadline", 0, FlagSpec::kValue},     {"stream-messages", 0, FlagSpec::kValue},
      {"header", 'H', FlagSpec::kRepeated},  {"data-file", 0, FlagSpec::kValue},
      {"descriptor-set", 0, FlagSpec::kRepeated}, {"json", 0, FlagSpec::kValue},
      {"quiet", 0, FlagSpec::kSwitch},       {"help", 'h', FlagSpec::kSwitch},
      {"unique", 0, FlagSpec::kValue},       {"unique-first", 0, FlagSpec::kValue},
  };
  return *flags;
}

absl::StatusOr<BenchOptions> ParseBenchOptions(const ParsedArgs& args) {
  BenchOptions options;
  LoadSpec& spec = options.spec;
  const std::vector<std::string>& positional = args.positional();
  if (positional.empty()) return absl::InvalidArgumentError("missing METHOD");
  if (positional.size() > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("too many arguments (expected METHOD [JSON]): \"", positional[2], "\""));
  }
  options.method = positional[0];
  if (positional.size() == 2) options.json = positional[1];
  if (auto value = args.Value("data-file"); value.has_value()) {
    if (options.json.has_value()) {
      return absl::InvalidArgumentError("give the request as JSON or --data-file, not both");
    }
    options.data_file = *value;
  }
  absl::StatusOr<HostPort> target = ParseHostPort(args.Value("target").value_or("127.0.0.1:8080"));
  if (!target.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--target: ", target.status().message()));
  }
  spec.target = *std::move(target);

  const auto int_flag = [&](const char* name, int64_t fallback, int64_t min,
                            int64_t max) -> absl::StatusOr<int64_t> {
    auto value = args.Value(name);
    if (!value.has_value()) return fallback;
    return ParseIntValue(name, *value, min, max);
  };
  const auto duration_flag = [&](const char* name,
                                 absl::Duration fallback) -> absl::StatusOr<absl::Duration> {
    auto value = args.Value(name);
    if (!value.has_value()) return fallback;
    return ParseDurationValue(name, *value);
  };

  absl::StatusOr<int64_t> connections = int_flag("connections", kDefaultConnections, 1, 10000);
  if (!connections.ok()) return connections.status();
  spec.connections = static_cast<int>(*connections);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  absl::StatusOr<int64_t> threads = int_flag("threads", std::min(cores, spec.connections), 1, 1024);
  if (!threads.ok()) return threads.status();
  spec.threads = static_cast<int>(*threads);
  if (auto value = args.Value("unique"); value.has_value()) {
    if (value->empty() || value->size() > 19) {
      return absl::InvalidArgumentError("--unique: the marker must have 1 to 19 characters");
    }
    spec.unique_marker = *value;
  }
  absl::StatusOr<int64_t> unique_first =
      int_flag("unique-first", 0, 0, std::numeric_limits<int64_t>::max());
  if (!unique_first.ok()) return unique_first.status();
  spec.unique_first = static_cast<uint64_t>(*unique_first);

  if (args.Has("rate") && args.Has("concurrency")) {
    return absl::InvalidArgumentError(
        "--rate (open loop) and --concurrency (closed loop) exclude each other");
  }
  if (auto rate = args.Value("rate"); rate.has_value()) {
    absl::StatusOr<double> parsed = ParseDoubleValue("rate", *rate, 0.001, 1e8);
    if (!parsed.ok()) return parsed.status();
    spec.rate = *parsed;
  }
  absl::StatusOr<int64_t> concurrency = int_flag("concurrency", kDefaultConcurrency, 1, 1000000);
  if (!concurrency.ok()) return concurrency.status();
  spec.concurrency = static_cast<int>(*concurrency);

  absl::StatusOr<int64_t> calls = int_flag("calls", 0, 1, int64_t{1} << 50);
  if (!calls.ok()) return calls.status();
  spec.calls = static_cast<uint64_t>(*calls);
  absl::StatusOr<absl::Duration> duration =
      duration_flag("duration", spec.calls > 0 ? absl::ZeroDuration() : kDefaultDuration);
  if (!duration.ok()) return duration.status();
  if (args.Has("duration") && *duration == absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--duration must be more than 0");
  }
  spec.duration = *duration;
  absl::StatusOr<absl::Duration> warmup = duration_flag("warmup", kDefaultWarmup);
  if (!warmup.ok()) return warmup.status();
  spec.warmup = *warmup;
  absl::StatusOr<absl::Duration> deadline = duration_flag("deadline", absl::ZeroDuration());
  if (!deadline.ok()) return deadline.status();
  spec.deadline = *deadline;

  options.stream_messages_given = args.Has("stream-messages");
  absl::StatusOr<int64_t> stream_messages = int_flag("stream-messages", 1, 1, 1000000);
  if (!stream_messages.ok()) return stream_messages.status();
  spec.stream_messages = static_cast<int>(*stream_messages);

  for (const std::string& header : args.Values("header")) {
    absl::StatusOr<MetadataEntry> entry = ParseMetadata(header);
    if (!entry.ok()) return entry.status();
    spec.metadata.push_back(*std::move(entry));
  }
  options.descriptor_sets = args.Values("descriptor-set");
  options.json_out = args.Value("json").value_or("");
  options.quiet = args.Has("quiet");
  return options;
}

std::string BenchReportJson(const BenchOptions& options, const LoadResult& result) {
  const LoadSpec& spec = options.spec;
  const bool open = spec.rate > 0;
  std::string errors_by_code;
  std::string samples;
  for (const auto& [code, count] : result.errors_by_code) {
    absl::StrAppend(&errors_by_code, errors_by_code.empty() ? "" : ", ",
                    JsonString(GrpcStatusName(code)), ": ", count);
  }
  for (const auto& [code, message] : result.error_samples) {
    absl::StrAppend(&samples, samples.empty() ? "" : ", ", JsonString(GrpcStatusName(code)),
                    ": ", JsonString(message));
  }
  const uint64_t errors = result.calls - result.ok;
  return absl::StrCat(
      "{\"version\": 1, \"method\": ", JsonString(spec.path),
      ", \"kind\": ", JsonString(CallKindName(spec.kind)),
      ", \"target\": ", JsonString(spec.target.authority),
      ", \"mode\": ", JsonString(open ? "open" : "closed"),
      ", \"concurrency\": ", open ? "null" : absl::StrCat(spec.concurrency),
      ", \"rate\": ", open ? JsonNumber(spec.rate) : "null",
      ", \"connections\": ", spec.connections,
      ", \"threads\": ", std::min(spec.threads, spec.connections),
      ", \"stream_messages\": ", spec.stream_messages,
      ", \"warmup_s\": ", JsonNumber(absl::ToDoubleSeconds(spec.warmup)),
      ", \"deadline_s\": ",
      spec.deadline > absl::ZeroDuration() ? JsonNumber(absl::ToDoubleSeconds(spec.deadline))
                                           : "null",
      ", \"calls\": ", result.calls, ", \"ok\": ", result.ok, ", \"errors\": ", errors,
      ", \"errors_by_code\": {", errors_by_code, "}", ", \"error_samples\": {", samples, "}",
      ", \"duration_s\": ", JsonNumber(result.duration_s),
      ", \"calls_per_s\": ", JsonNumber(PerSecond(result.calls, result.duration_s)),
      ", \"latency_us\": ", LatencyJson(result.latency_ns),
      ", \"messages_sent\": ", result.messages_sent,
      ", \"messages_received\": ", result.messages_received,
      ", \"messages_per_s\": ", JsonNumber(PerSecond(result.messages_received, result.duration_s)),
      ", \"message_latency_us\": ",
      spec.kind == CallKind::kBidiStreaming ? LatencyJson(result.message_latency_ns) : "null",
      ", \"connections_lost\": ", result.connections_lost,
      ", \"unique_next\": ",
      spec.unique_marker.empty() ? std::string("null") : absl::StrCat(result.unique_next),
      "}\n");
}

std::string BenchSummary(const BenchOptions& options, const LoadResult& result) {
  const LoadSpec& spec = options.spec;
  std::string out = absl::StrCat("polymesh bench: ", spec.path, " (", CallKindName(spec.kind),
                                 ") on ", spec.target.authority, "\n");
  if (spec.rate > 0) {
    absl::StrAppendFormat(&out, "  open loop at %.1f calls/s", spec.rate);
  } else {
    absl::StrAppendFormat(&out, "  closed loop, %d calls in flight", spec.concurrency);
  }
  absl::StrAppendFormat(&out, ", %d connections, %d threads, warmup %s\n", spec.connections,
                        std::min(spec.threads, spec.connections),
                        absl::FormatDuration(spec.warmup));
  absl::StrAppendFormat(&out, "  calls     %d in %.2f s = %.1f calls/s (ok %d, errors %d)\n",
                        result.calls, result.duration_s,
                        PerSecond(result.calls, result.duration_s), result.ok,
                        result.calls - result.ok);
  absl::StrAppend(&out, "  latency   ", LatencyLine(result.latency_ns), "\n");
  if (IsStreaming(spec.kind)) {
    absl::StrAppendFormat(&out, "  messages  %d sent, %d received = %.1f received/s\n",
                          result.messages_sent, result.messages_received,
                          PerSecond(result.messages_received, result.duration_s));
  }
  if (spec.kind == CallKind::kBidiStreaming) {
    absl::StrAppend(&out, "  round trip ", LatencyLine(result.message_latency_ns), "\n");
  }
  for (const auto& [code, count] : result.errors_by_code) {
    auto sample = result.error_samples.find(code);
    absl::StrAppend(&out, "  error     ", GrpcStatusName(code), " x", count,
                    sample == result.error_samples.end() ? "" : absl::StrCat(": ", sample->second),
                    "\n");
  }
  if (result.connections_lost > 0) {
    absl::StrAppend(&out, "  connections lost and made again: ", result.connections_lost, "\n");
  }
  return out;
}

int RunBenchCommand(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(BenchFlags(), args);
  if (!parsed.ok()) return UsageError("bench", parsed.status().message());
  if (parsed->Has("help")) {
    std::fputs(kBenchHelp, stdout);
    return kExitOk;
  }
  absl::StatusOr<BenchOptions> options = ParseBenchOptions(*parsed);
  if (!options.ok()) return UsageError("bench", options.status().message());
  if (absl::Status resolved = ResolveRequest(*options); !resolved.ok()) return BadInput(resolved);
  if (options->stream_messages_given && options->spec.kind != CallKind::kClientStreaming &&
      options->spec.kind != CallKind::kBidiStreaming) {
    return UsageError("bench", absl::StrCat("--stream-messages is for client and bidi streams; ",
                                            options->spec.path, " is ",
                                            CallKindName(options->spec.kind)));
  }

  uint64_t last_calls = 0;
  double last_elapsed = 0;
  const bool progress = !options->quiet;
  absl::StatusOr<LoadResult> result =
      RunLoad(options->spec, [&](const LoadProgress& p) {
        if (progress) PrintProgress(p, last_calls, last_elapsed);
      });
  if (progress && isatty(STDERR_FILENO)) std::fputs("\n", stderr);
  if (!result.ok()) {
    PrintError(absl::StatusCodeToString(result.status().code()), result.status().message());
    return result.status().code() == absl::StatusCode::kUnavailable
               ? ExitCodeForGrpcStatus(static_cast<int>(absl::StatusCode::kUnavailable))
               : kExitBadInput;
  }
  const std::string summary = BenchSummary(*options, *result);
  if (options->json_out == "-") {
    std::fputs(BenchReportJson(*options, *result).c_str(), stdout);
    std::fputs(summary.c_str(), stderr);
  } else {
    if (!options->json_out.empty()) {
      std::ofstream file(options->json_out, std::ios::trunc);
      file << BenchReportJson(*options, *result);
      if (!file.good()) {
        PrintError("INVALID_ARGUMENT", absl::StrCat("cannot write ", options->json_out));
        return kExitBadInput;
      }
    }
    std::fputs(summary.c_str(), stdout);
  }
  return result->ok == result->calls ? kExitOk : kExitCallsFailed;
}

}  // namespace polymesh::cli
