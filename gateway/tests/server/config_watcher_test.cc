#include "server/config_watcher.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

constexpr absl::Duration kWait = absl::Seconds(10);

class ConfigWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(folder_);
    std::ofstream(path_) << "first\n";
    absl::StatusOr<std::unique_ptr<ConfigWatcher>> watcher = ConfigWatcher::Start(
        {path_},
        [this] {
          absl::MutexLock lock(&mutex_);
          ++changes_;
        },
        absl::Milliseconds(50));
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = std::move(*watcher);
  }

  // Waits until at least `count` changes were reported; returns how many.
  int WaitForChanges(int count, absl::Duration timeout) {
    absl::MutexLock lock(&mutex_);
    auto reached = [&] { return changes_ >= count; };
    mutex_.AwaitWithTimeout(absl::Condition(&reached), timeout);
    return changes_;
  }

  // One folder per test and process: ctest runs the tests in parallel.
  const std::string folder_ = absl::StrCat(
      ::testing::TempDir(), "/watched-",
      ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-", getpid());
  const std::string path_ = folder_ + "/gateway.yaml";
  absl::Mutex mutex_;
  int changes_ ABSL_GUARDED_BY(mutex_) = 0;
  std::unique_ptr<ConfigWatcher> watcher_;
};

TEST_F(ConfigWatcherTest, AWriteIsOneChange) {
  std::ofstream(path_, std::ios::trunc) << "second\n";
  EXPECT_EQ(WaitForChanges(1, kWait), 1);
}

TEST_F(ConfigWatcherTest, AFileReplacedByARenameIsSeen) {
  const std::string staged = folder_ + "/.gateway.yaml.tmp";
  std::ofstream(staged) << "replaced\n";
  ASSERT_EQ(std::rename(staged.c_str(), path_.c_str()), 0);
  EXPECT_GE(WaitForChanges(1, kWait), 1);
}

TEST_F(ConfigWatcherTest, OtherFilesOfTheFolderAreIgnored) {
  std::ofstream(folder_ + "/other.yaml") << "x\n";
  // Had it counted, it would be reported 50ms (the settle time) later.
  EXPECT_EQ(WaitForChanges(1, absl::Milliseconds(500)), 0);
  std::ofstream(path_, std::ios::app) << "more\n";
  EXPECT_EQ(WaitForChanges(1, kWait), 1);
}

}  // namespace
}  // namespace polymesh::gateway
