// Watches files for changes with inotify, on a thread of its own, and calls
// back once per burst of changes (editors and deploy tools often write a
// file in several steps, or replace it by a rename, as Kubernetes does with
// a ConfigMap volume's symlinks: the file's folder is watched, so a
// replaced file is seen too).
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<ConfigWatcher>> watcher = ConfigWatcher::Start(
//       {"/etc/polymesh/gateway.yaml"}, [] { kill(getpid(), SIGHUP); });
//   ...
//   watcher->reset();  // stops the thread
#ifndef POLYMESH_GATEWAY_SRC_SERVER_CONFIG_WATCHER_H_
#define POLYMESH_GATEWAY_SRC_SERVER_CONFIG_WATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "transport/socket.h"

namespace polymesh::gateway {

// A running watcher.
class ConfigWatcher {
 public:
  // Starts watching `paths`; `on_change` runs on the watcher's thread,
  // `settle` after the last event of a burst. INTERNAL when inotify cannot
  // be set up, NOT_FOUND when a path's folder does not exist.
  static absl::StatusOr<std::unique_ptr<ConfigWatcher>> Start(
      const std::vector<std::string>& paths, std::function<void()> on_change,
      absl::Duration settle = absl::Milliseconds(200));
  // Stops the thread.
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

 private:
  ConfigWatcher() = default;
  void Run();
  // Whether an event on `name` in the folder of watch `wd` concerns us.
  bool Concerns(int wd, const std::string& name) const;

  ScopedFd inotify_;
  ScopedFd stop_;  // an eventfd that ends Run()
  std::function<void()> on_change_;
  absl::Duration settle_;
  // Watch descriptor -> the file names watched in its folder.
  absl::flat_hash_map<int, absl::flat_hash_set<std::string>> watched_;
  std::thread thread_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_SERVER_CONFIG_WATCHER_H_
