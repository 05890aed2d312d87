// Runs programs as child processes for the tests of the real binaries:
// `polymesh` with arguments and stdin, its exit code, stdout and stderr;
// and a server that prints {"port": P} on its first line and stops on
// SIGTERM (polymesh-echo-server).
//
// Usage:
//
//   ProcessResult r = RunProcess({POLYMESH_BINARY, "call", "--list"}, /*stdin_text=*/"");
//   EXPECT_EQ(r.exit_code, 0);
//   ServerProcess echo({POLYMESH_ECHO_SERVER, "--threads", "1"});
//   int port = echo.port();
#ifndef POLYMESH_CLIENTS_CPP_TEST_POLYMESH_PROCESS_H_
#define POLYMESH_CLIENTS_CPP_TEST_POLYMESH_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace polymesh::cli::testing {

// How a child process ended and what it wrote.
struct ProcessResult {
  // The exit status, or 128 + signal when a signal ended it.
  int exit_code = -1;
  // Everything it wrote on stdout.
  std::string out;
  // Everything it wrote on stderr.
  std::string err;
};

// Runs `argv` with `stdin_text` on its stdin; waits for it to end (it is
// killed after `timeout_s` seconds, which shows as exit code 128 + 9).
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_text,
                         int timeout_s = 120);

// A child process with stdin closed, whose stderr can be read line by line
// while it runs (to act when it reports progress); Wait() collects the rest.
class RunningProcess {
 public:
  // Starts `argv`.
  explicit RunningProcess(const std::vector<std::string>& argv);
  ~RunningProcess();
  RunningProcess(const RunningProcess&) = delete;
  RunningProcess& operator=(const RunningProcess&) = delete;

  // The next line of its stderr (kept in the result too); empty at the end.
  std::string ReadErrLine();
  // Waits for it to end (killed after `timeout_s` seconds).
  ProcessResult Wait(int timeout_s = 120);

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  ProcessResult result_;
};

// A server child process; SIGTERM and wait when destroyed.
class ServerProcess {
 public:
  // Starts `argv` and reads the port from its first line of stdout
  // ({"port": P}); port() is 0 when it printed none.
  explicit ServerProcess(const std::vector<std::string>& argv);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // The port it listens on.
  int port() const { return port_; }
  // Sends it `signal` (SIGSTOP stalls it, SIGCONT resumes it).
  void Signal(int signal);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
};

}  // namespace polymesh::cli::testing

#endif  // POLYMESH_CLIENTS_CPP_TEST_POLYMESH_PROCESS_H_
