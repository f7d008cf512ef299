// test_cxx -- C++ on top of mymalloc: libstdc++'s operator new/delete call
// malloc/free (and aligned_alloc/free for over-aligned types), so they land
// in mymalloc once it replaces malloc.  Checked: new/delete and new[]/
// delete[] give our blocks (malloc_usable_size accepts them), containers
// (vector, string, map, unordered_map, list) hold their contents through
// growth, alignas(64) and alignas(4096) objects are aligned, std::thread
// workers allocate and free (also each other's blocks), std::bad_alloc is
// thrown (and nothrow new returns nullptr) when the size is impossible.
// Under valgrind, which replaces libstdc++'s operator new/delete with its
// own, the checks that the blocks are ours are skipped.
#include "config.h"

#include <malloc.h>
#include <mymalloc/malloc.h>

#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "harness.h"

struct alignas(64) Line {
  unsigned char bytes[64];
};
struct alignas(4096) PageObj {
  unsigned char bytes[100];
};

static volatile size_t v_huge = SIZE_MAX / 4;

int main() {
  th_skip_under_valgrind("test_cxx", "valgrind replaces libstdc++'s operator new/delete with its own allocator");
  const bool ours = !th_under_valgrind();
  // plain new/delete: our blocks
  int *i = new int(42);
  CHECK(*i == 42 && aligned16(i));
  if (ours) CHECK(malloc_usable_size(i) >= sizeof(int));
  delete i;
  char *arr = new char[100000];
  if (ours) CHECK(malloc_usable_size(arr) >= 100000);
  th_fill(arr, 100000, 3);
  CHECK(th_verify(arr, 100000, 3));
  delete[] arr;

  // containers
  std::vector<std::string> vs;
  for (int k = 0; k < 20000; k++) vs.push_back(std::string(static_cast<size_t>(k % 97), static_cast<char>('a' + k % 26)));
  bool ok = true;
  for (int k = 0; k < 20000; k++)
    ok &= vs[static_cast<size_t>(k)] == std::string(static_cast<size_t>(k % 97), static_cast<char>('a' + k % 26));
  CHECK(ok);
  std::map<int, std::string> mp;
  std::unordered_map<std::string, int> um;
  for (int k = 0; k < 50000; k++) {
    mp[k] = std::to_string(k * 3);
    um[std::to_string(k)] = k;
  }
  ok = true;
  for (int k = 0; k < 50000; k++) ok &= mp[k] == std::to_string(k * 3) && um[std::to_string(k)] == k;
  CHECK(ok);
  CHECK(mp.size() == 50000 && um.size() == 50000);
  for (int k = 0; k < 50000; k += 2) { mp.erase(k); um.erase(std::to_string(k)); }
  CHECK(mp.size() == 25000 && um.size() == 25000);
  std::list<std::vector<int>> lst;
  for (int k = 0; k < 1000; k++) lst.emplace_back(static_cast<size_t>(k), k);
  long sum = 0;
  for (auto &v : lst) for (int x : v) sum += x;
  CHECK(sum == 332833500L);   // sum of k*k for k < 1000

  // over-aligned types: operator new(size_t, align_val_t) -> aligned_alloc
  std::vector<Line *> lines;
  for (int k = 0; k < 1000; k++) {
    Line *l = new Line;
    CHECK(reinterpret_cast<uintptr_t>(l) % 64 == 0);
    memset(l->bytes, k & 255, sizeof(l->bytes));
    lines.push_back(l);
  }
  ok = true;
  for (size_t k = 0; k < lines.size(); k++) ok &= lines[k]->bytes[63] == static_cast<unsigned char>(k & 255);
  CHECK(ok);
  for (Line *l : lines) delete l;
  PageObj *po = new PageObj[10];
  CHECK(reinterpret_cast<uintptr_t>(po) % 4096 == 0);
  if (ours) CHECK(malloc_usable_size(po) >= 10 * sizeof(PageObj));
  delete[] po;
  auto up = std::make_unique<Line[]>(100);
  CHECK(reinterpret_cast<uintptr_t>(up.get()) % 64 == 0);
  up.reset();

  // threads: allocate, hand over, free each other's strings
  std::mutex mu;
  std::vector<std::string *> shared;
  std::atomic<int> bad(0);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([t, &mu, &shared, &bad] {
      for (int k = 0; k < 20000; k++) {
        std::string *s = new std::string(static_cast<size_t>(10 + (k * 7 + t) % 500), static_cast<char>('A' + t));
        std::string *other = nullptr;
        {
          std::lock_guard<std::mutex> g(mu);
          if (!shared.empty() && (k & 1)) { other = shared.back(); shared.pop_back(); }
          shared.push_back(s);
        }
        if (other) {
          char ch = (*other)[0];
          for (char x : *other) if (x != ch) bad++;
          delete other;
        }
        std::vector<int> tmp(static_cast<size_t>(k % 100), k);
        if (!tmp.empty() && tmp.back() != k) bad++;
      }
    });
  }
  for (auto &th : ts) th.join();
  CHECK(bad.load() == 0);
  for (std::string *s : shared) delete s;

  // impossible sizes (valgrind's operator new aborts instead of throwing)
  if (!ours) return test_done("test_cxx");
  bool threw = false;
  try {
    char *p = new char[v_huge];
    th_sink = p;
    delete[] p;
  } catch (const std::bad_alloc &) {
    threw = true;
  }
  CHECK(threw);
  char *np = new (std::nothrow) char[v_huge];
  CHECK(np == nullptr);
  threw = false;
  try {
    std::vector<char> big;
    big.reserve(v_huge);
  } catch (const std::bad_alloc &) {
    threw = true;
  } catch (const std::length_error &) {
    threw = true;
  }
  CHECK(threw);

  // and mymalloc's report knows about all this
  CHECK(mallinfo2().uordblks > 0);
  return test_done("test_cxx");
}
