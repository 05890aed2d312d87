#include "server/config_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace polymesh::gateway {
namespace {

constexpr uint32_t kFolderEvents =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB;

}  // namespace

absl::StatusOr<std::unique_ptr<ConfigWatcher>> ConfigWatcher::Start(
    const std::vector<std::string>& paths, std::function<void()> on_change,
    absl::Duration settle) {
  std::unique_ptr<ConfigWatcher> watcher(new ConfigWatcher());
  watcher->on_change_ = std::move(on_change);
  watcher->settle_ = settle;
  watcher->inotify_ = ScopedFd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  watcher->stop_ = ScopedFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!watcher->inotify_.valid() || !watcher->stop_.valid()) {
    return absl::InternalError(absl::StrCat("cannot watch files: ", std::strerror(errno)));
  }
  for (const std::string& path : paths) {
    const std::filesystem::path file = std::filesystem::absolute(path);
    const std::string folder = file.parent_path().string();
    const int wd = inotify_add_watch(watcher->inotify_.get(), folder.c_str(), kFolderEvents);
    if (wd < 0) {
      return absl::NotFoundError(
          absl::StrCat("cannot watch \"", folder, "\": ", std::strerror(errno)));
    }
    watcher->watched_[wd].insert(file.filename().string());
  }
  watcher->thread_ = std::thread([raw = watcher.get()] { raw->Run(); });
  return watcher;
}

ConfigWatcher::~ConfigWatcher() {
  const uint64_t one = 1;
  if (write(stop_.get(), &one, sizeof(one)) < 0) {
    Log(LogLevel::kWarning, "cannot stop the configuration watcher",
        {{"error", std::strerror(errno)}});
  }
  if (thread_.joinable()) thread_.join();
}

bool ConfigWatcher::Concerns(int wd, const std::string& name) const {
  auto it = watched_.find(wd);
  if (it == watched_.end()) return false;
  // Kubernetes swaps a ConfigMap volume's "..data" symlink: any change of
  // it may change every file of the folder.
  return it->second.contains(name) || name == "..data";
}

void ConfigWatcher::Run() {
  alignas(inotify_event) char buffer[16 * 1024];
  bool pending = false;
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    // While a burst is pending, wait only `settle` for more of it.
    const int timeout_ms = pending ? static_cast<int>(absl::ToInt64Milliseconds(settle_)) : -1;
    const int ready = poll(fds, 2, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      Log(LogLevel::kError, "configuration watcher stopped", {{"error", std::strerror(errno)}});
      return;
    }
    if (fds[1].revents != 0) return;
    if (ready == 0) {
      pending = false;
      on_change_();
      continue;
    }
    for (;;) {
      const ssize_t length = read(inotify_.get(), buffer, sizeof(buffer));
      if (length <= 0) break;
      for (ssize_t offset = 0; offset < length;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + offset);
        if (event->len > 0 && Concerns(event->wd, event->name)) pending = true;
        offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
  }
}

}  // namespace polymesh::gateway
