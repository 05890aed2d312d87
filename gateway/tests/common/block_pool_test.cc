#include "common/block_pool.h"

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

#if defined(POLYMESH_ADDRESS_SANITIZER)
#define SKIP_WITHOUT_CACHE() GTEST_SKIP() << "no block is kept under AddressSanitizer"
#else
#define SKIP_WITHOUT_CACHE() (void)0
#endif

TEST(BlockPoolTest, AFreedBlockIsTheNextOneOfItsClass) {
  SKIP_WITHOUT_CACHE();
  void* first = PoolAllocate(100);
  PoolFree(first);
  const size_t cached = PoolCachedBlocks();
  EXPECT_GE(cached, 1u);
  // 100 and 128 bytes share the 128-byte class.
  void* second = PoolAllocate(128);
  EXPECT_EQ(second, first);
  EXPECT_EQ(PoolCachedBlocks(), cached - 1);
  // Another class does not take it.
  void* other = PoolAllocate(129);
  EXPECT_NE(other, first);
  PoolFree(second);
  PoolFree(other);
}

TEST(BlockPoolTest, BlocksAreUsableAndAligned) {
  std::vector<void*> blocks;
  for (size_t size : {1, 15, 16, 17, 255, 4096, 4097, 100000}) {
    auto* block = static_cast<unsigned char*>(PoolAllocate(size));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % alignof(std::max_align_t), 0u) << size;
    std::memset(block, 0xab, size);
    blocks.push_back(block);
  }
  for (void* block : blocks) PoolFree(block);
  PoolFree(nullptr);
}

TEST(BlockPoolTest, ReallocateKeepsTheBytes) {
  auto* block = static_cast<char*>(PoolAllocate(10));
  std::memcpy(block, "0123456789", 10);
#if !defined(POLYMESH_ADDRESS_SANITIZER)
  // Within the class: the same block (under ASan, blocks have no classes).
  EXPECT_EQ(PoolReallocate(block, 16), block);
#endif
  auto* bigger = static_cast<char*>(PoolReallocate(block, 5000));
  EXPECT_EQ(std::string(bigger, 10), "0123456789");
  auto* fresh = static_cast<char*>(PoolReallocate(nullptr, 8));
  ASSERT_NE(fresh, nullptr);
  PoolFree(bigger);
  PoolFree(fresh);
}

TEST(BlockPoolTest, ABlockMayBeFreedOnAnotherThread) {
  SKIP_WITHOUT_CACHE();
  void* block = PoolAllocate(64);
  size_t cached_there = 0;
  std::thread other([&] {
    PoolFree(block);
    cached_there = PoolCachedBlocks();
  });
  other.join();
  EXPECT_EQ(cached_there, 1u);
}

TEST(BlockPoolTest, ContainersAndStringsUseThePool) {
  SKIP_WITHOUT_CACHE();
  using PoolString = std::basic_string<char, std::char_traits<char>, PoolAllocator<char>>;
  const size_t before = PoolCachedBlocks();
  {
    std::vector<PoolString, PoolAllocator<PoolString>> strings;
    strings.emplace_back("a value too long for the small-string buffer");
    strings.emplace_back("another one, also longer than fifteen bytes");
  }
  // Everything went back to this thread's lists.
  EXPECT_GE(PoolCachedBlocks(), before + 3);
}

TEST(BlockPoolTest, Nghttp2SessionsAllocateFromThePool) {
  SKIP_WITHOUT_CACHE();
  nghttp2_session_callbacks* callbacks;
  ASSERT_EQ(nghttp2_session_callbacks_new(&callbacks), 0);
  nghttp2_session* session;
  ASSERT_EQ(nghttp2_session_client_new3(&session, callbacks, nullptr, nullptr, PoolNghttp2Mem()),
            0);
  const size_t cached = PoolCachedBlocks();
  nghttp2_session_del(session);
  nghttp2_session_callbacks_del(callbacks);
  EXPECT_GT(PoolCachedBlocks(), cached);
}

}  // namespace
}  // namespace polymesh::gateway
