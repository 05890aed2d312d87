#include "common/block_pool.h"

#include <array>
#include <cstdlib>
#include <cstring>
#include <new>

namespace polymesh::gateway {
namespace {

// Class c holds blocks of 16 << c bytes: 16 B to 4 KiB.
constexpr int kClasses = 9;
constexpr size_t kSmallest = 16;
constexpr size_t kLargest = kSmallest << (kClasses - 1);
// The most blocks one list keeps (per thread, per class).
constexpr size_t kMaxCached = 4096;
// Under AddressSanitizer every block is a large one: malloc'ed at its exact
// size, freed at once, so that ASan sees every use after free and every
// overflow.
#if defined(POLYMESH_ADDRESS_SANITIZER)
constexpr bool kEveryBlockLarge = true;
#else
constexpr bool kEveryBlockLarge = false;
#endif
// A large block's class.
constexpr uint32_t kLarge = 0xffffffff;

// What precedes each block: its class, or kLarge. 16 bytes keep the block
// aligned like malloc's.
struct alignas(std::max_align_t) BlockHeader {
  uint32_t size_class;
  uint32_t unused;
  size_t large_size;  // the usable size of a large block
};

struct FreeBlock {
  FreeBlock* next;
};

// Set when this thread's pool is gone (thread exit): blocks freed later on
// the thread go straight back to malloc. Trivially destructible, so it
// outlives the pool.
thread_local bool pool_gone = false;

class ThreadPool {
 public:
  ~ThreadPool() {
    pool_gone = true;
    for (FreeBlock*& head : heads_) {
      while (head != nullptr) {
        FreeBlock* next = head->next;
        std::free(HeaderOf(head));
        head = next;
      }
    }
  }

  void* Allocate(int size_class) {
    FreeBlock*& head = heads_[size_class];
    if (head != nullptr) {
      FreeBlock* block = head;
      head = block->next;
      --counts_[size_class];
      return block;
    }
    void* raw = std::malloc(sizeof(BlockHeader) + (kSmallest << size_class));
    if (raw == nullptr) throw std::bad_alloc();
    auto* header = static_cast<BlockHeader*>(raw);
    header->size_class = static_cast<uint32_t>(size_class);
    return header + 1;
  }

  void Free(void* block, int size_class) {
    if (counts_[size_class] >= kMaxCached) {
      std::free(HeaderOf(block));
      return;
    }
    auto* free_block = static_cast<FreeBlock*>(block);
    free_block->next = heads_[size_class];
    heads_[size_class] = free_block;
    ++counts_[size_class];
  }

  size_t cached() const {
    size_t total = 0;
    for (size_t count : counts_) total += count;
    return total;
  }

  static BlockHeader* HeaderOf(void* block) { return static_cast<BlockHeader*>(block) - 1; }

 private:
  std::array<FreeBlock*, kClasses> heads_{};
  std::array<size_t, kClasses> counts_{};
};

ThreadPool& Local() {
  thread_local ThreadPool pool;
  return pool;
}

int SizeClass(size_t size) {
  int size_class = 0;
  size_t capacity = kSmallest;
  while (capacity < size) {
    capacity <<= 1;
    ++size_class;
  }
  return size_class;
}

size_t UsableSize(const BlockHeader* header) {
  return header->size_class == kLarge ? header->large_size : kSmallest << header->size_class;
}

void* Nghttp2Malloc(size_t size, void*) { return PoolAllocate(size); }
void Nghttp2Free(void* block, void*) { PoolFree(block); }
void* Nghttp2Calloc(size_t count, size_t size, void*) {
  const size_t total = count * size;
  void* block = PoolAllocate(total);
  std::memset(block, 0, total);
  return block;
}
void* Nghttp2Realloc(void* block, size_t size, void*) { return PoolReallocate(block, size); }

}  // namespace

void* PoolAllocate(size_t size) {
  if (kEveryBlockLarge || size > kLargest || pool_gone) {
    void* raw = std::malloc(sizeof(BlockHeader) + size);
    if (raw == nullptr) throw std::bad_alloc();
    auto* header = static_cast<BlockHeader*>(raw);
    header->size_class = kLarge;
    header->large_size = size;
    return header + 1;
  }
  return Local().Allocate(SizeClass(size));
}

void PoolFree(void* block) {
  if (block == nullptr) return;
  BlockHeader* header = ThreadPool::HeaderOf(block);
  if (header->size_class == kLarge || pool_gone) {
    std::free(header);
    return;
  }
  Local().Free(block, static_cast<int>(header->size_class));
}

void* PoolReallocate(void* block, size_t size) {
  if (block == nullptr) return PoolAllocate(size);
  const size_t usable = UsableSize(ThreadPool::HeaderOf(block));
  if (size <= usable) return block;
  void* bigger = PoolAllocate(size);
  std::memcpy(bigger, block, usable);
  PoolFree(block);
  return bigger;
}

size_t PoolCachedBlocks() { return pool_gone ? 0 : Local().cached(); }

nghttp2_mem* PoolNghttp2Mem() {
  static nghttp2_mem mem = {nullptr, &Nghttp2Malloc, &Nghttp2Free, &Nghttp2Calloc,
                            &Nghttp2Realloc};
  return &mem;
}

}  // namespace polymesh::gateway
