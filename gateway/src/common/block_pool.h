// Per-thread free lists of small memory blocks, for what the gateway
// allocates and frees on every call (nghttp2's stream and frame objects, the
// call itself, its header lists): after warm-up, a call takes its memory
// from the lists and gives it back, with no trip to malloc and no lock.
//
// Blocks come in power-of-two size classes from 16 bytes to 4 KiB; larger
// ones go to malloc. Each block carries its class in a small header, so it
// may be freed on any thread (it then joins that thread's list). A list
// keeps at most a bounded number of blocks; beyond that, blocks go back to
// malloc, so a burst does not pin its memory for ever. Under
// AddressSanitizer (gcc's or clang's) every block is malloc'ed at its exact
// size and goes back to malloc when freed, so that a use after free or a
// write past the size asked for is still caught.
//
// Usage:
//
//   void* p = PoolAllocate(200);     // a 256-byte class block
//   PoolFree(p);
//   std::vector<Header, PoolAllocator<Header>> headers;   // the same, for containers
//   nghttp2_mem mem = PoolNghttp2Mem();                   // for nghttp2_session_*_new3
#ifndef POLYMESH_GATEWAY_SRC_COMMON_BLOCK_POOL_H_
#define POLYMESH_GATEWAY_SRC_COMMON_BLOCK_POOL_H_

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>

// Defined as 1 when building with AddressSanitizer: gcc defines
// __SANITIZE_ADDRESS__, clang answers __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define POLYMESH_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POLYMESH_ADDRESS_SANITIZER 1
#endif
#endif

namespace polymesh::gateway {

// A block of at least `size` bytes (aligned for any scalar type), never
// nullptr (aborts when memory is exhausted, as operator new would).
void* PoolAllocate(size_t size);
// Returns a block of PoolAllocate() or PoolReallocate(); nullptr is a no-op.
void PoolFree(void* block);
// realloc() semantics over pool blocks (nullptr `block`: PoolAllocate).
void* PoolReallocate(void* block, size_t size);

// Blocks of this thread's lists, for tests: how many are held now.
size_t PoolCachedBlocks();

// An nghttp2 allocator on the pool (for nghttp2_session_*_new3).
nghttp2_mem* PoolNghttp2Mem();

// A standard allocator on the pool, for containers and strings.
template <typename T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <typename U>
  PoolAllocator(const PoolAllocator<U>&) {}  // NOLINT(google-explicit-constructor)
  T* allocate(size_t n) { return static_cast<T*>(PoolAllocate(n * sizeof(T))); }
  void deallocate(T* p, size_t) { PoolFree(p); }
  template <typename U>
  bool operator==(const PoolAllocator<U>&) const {
    return true;
  }
};

// A string on the pool (header fields, a call's byte buffers).
using PoolString = std::basic_string<char, std::char_traits<char>, PoolAllocator<char>>;

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_COMMON_BLOCK_POOL_H_
