// A test backend for polymesh.testing.v1.EchoService on a gRPC C++ server
// bound to port 0. It follows each request's Instruction, echoes request
// metadata named "x-*" as response headers ("echo-" prefix), always adds a
// text and a binary trailer, and records what tests wait for (a call that
// started, a call whose context was cancelled, the deadline it saw). Tests
// may also make its next calls fail or wait, whatever their requests say
// (FailNext(), DelayNext()), such as an upstream that fails twice with
// UNAVAILABLE and then succeeds.
#ifndef POLYMESH_GATEWAY_TEST_INTEGRATION_ECHO_BACKEND_H_
#define POLYMESH_GATEWAY_TEST_INTEGRATION_ECHO_BACKEND_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "polymesh/testing/v1/echo.grpc.pb.h"

namespace polymesh::gateway::testing {

// The binary trailer every response carries.
inline constexpr char kBinaryTrailerValue[] = "\x00\x01\xfe\xff" " binary";
// The status details every failed call carries (grpc-status-details-bin).
inline constexpr char kErrorDetails[] = "\x08\x03\x12\x07" "details";

// What the backend observed, for tests to wait on and inspect.
class BackendRecord {
 public:
  // Called by the backend when a call starts.
  void CallStarted(const grpc::ServerContext& context);
  // Called by the backend when a call saw its context cancelled.
  void CallCancelled();
  // Called by the backend when a call returned its status.
  void CallFinished();

  // Makes the next `count` calls end at once with `code` ("injected
  // failure"), before they read their request.
  void FailNext(int count, grpc::StatusCode code);
  // Makes the next `count` calls wait `delay` first (cut short, as
  // CANCELLED, when the call is cancelled meanwhile).
  void DelayNext(int count, absl::Duration delay);
  // Called by the backend when a call starts: the delay it must wait first
  // (zero for none), and the failure it must end with (OK for none).
  void TakeFaults(absl::Duration& delay, grpc::StatusCode& code);

  // Blocks until `count` calls started (or `timeout`); true if they did.
  bool WaitForCalls(int count, absl::Duration timeout);
  // Blocks until a call was cancelled (or `timeout`); true if one was.
  bool WaitForCancellation(absl::Duration timeout);
  // The request metadata of the last call.
  std::multimap<std::string, std::string> last_metadata();
  // How long the last call had until its deadline when it started
  // (absl::InfiniteDuration() when it had none).
  absl::Duration last_time_left();
  // The :authority of the last call.
  std::string last_authority();
  // How many calls started, were cancelled, returned a status.
  int calls();
  int cancellations();
  int finished();
  // Blocks until `count` calls returned (or `timeout`); true if they did.
  bool WaitForFinished(int count, absl::Duration timeout);

 private:
  absl::Mutex mutex_;
  int calls_ ABSL_GUARDED_BY(mutex_) = 0;
  int cancellations_ ABSL_GUARDED_BY(mutex_) = 0;
  int finished_ ABSL_GUARDED_BY(mutex_) = 0;
  std::multimap<std::string, std::string> metadata_ ABSL_GUARDED_BY(mutex_);
  absl::Duration time_left_ ABSL_GUARDED_BY(mutex_) = absl::InfiniteDuration();
  std::string authority_ ABSL_GUARDED_BY(mutex_);
  int failures_left_ ABSL_GUARDED_BY(mutex_) = 0;
  grpc::StatusCode failure_code_ ABSL_GUARDED_BY(mutex_) = grpc::StatusCode::OK;
  int delays_left_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::Duration delay_ ABSL_GUARDED_BY(mutex_);
};

// The running backend.
class EchoBackend {
 public:
  // Starts on `address`:`port` (default 127.0.0.1, port 0), with the
  // standard grpc.health.v1 service answering SERVING.
  explicit EchoBackend(const std::string& address = "127.0.0.1", int port = 0);
  // The same with `credentials` (such as TLS) on its port.
  explicit EchoBackend(std::shared_ptr<grpc::ServerCredentials> credentials,
                       const std::string& address = "127.0.0.1", int port = 0);
  ~EchoBackend();

  // The port it listens on.
  int port() const { return port_; }
  // Makes the health service answer SERVING or NOT_SERVING.
  void SetServing(bool serving);
  // What it observed.
  BackendRecord& record() { return *record_; }

 private:
  std::unique_ptr<BackendRecord> record_;
  std::unique_ptr<polymesh::testing::v1::EchoService::Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace polymesh::gateway::testing

#endif  // POLYMESH_GATEWAY_TEST_INTEGRATION_ECHO_BACKEND_H_
