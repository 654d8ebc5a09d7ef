// engine_alloc_test.cc - the IPC hot path does no heap allocation once warm.
// Counts calls of the global operator new (replaced for this test binary).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "dvk/dvk.h"
#include "host-backend/engine/engine.h"

namespace {
std::atomic<uint64_t> g_news{0};
}  // namespace

// GCC flags free() in a replacement operator delete as mismatched (a false
// positive: our operator new uses malloc).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace vdvk {
namespace {

// Records nothing that grows: the count and the last result only.
class CountingSink : public EngineSink {
 public:
  void Complete(const Completion& c) override {
    ++completions;
    last_result = c.result;
    if (c.msg != nullptr) last_type = c.msg->m_type;
  }
  void StartVcopy(const VcopyGrant&) override {}
  void ProcessBound(ProcKey) override {}
  void SignalProcess(ProcKey, int) override {}
  uint64_t completions = 0;
  int32_t last_result = 0;
  int32_t last_type = 0;
};

TEST(EngineAllocTest, SteadyIpcDoesNotAllocate) {
  CountingSink sink;
  Engine eng(EngineConfig{}, &sink);
  const ProcKey srv{0, 10}, cli{0, 11}, peer{0, 12};
  RequestId id = 1;
  auto call = [&](ProcKey who, uint32_t op, int32_t a0, int32_t a1 = 0, int32_t a2 = 0,
                  int64_t to = -1) {
    Call c;
    c.id = id++;
    c.caller = who;
    c.op = op;
    c.timeout_ms = to;
    c.arg[0] = a0;
    c.arg[1] = a1;
    c.arg[2] = a2;
    c.msg.m_type = static_cast<int32_t>(c.id);
    eng.Submit(c, 1000);
  };
  auto bind = [&](ProcKey who, int32_t ep) {
    Call c;
    c.id = id++;
    c.caller = who;
    c.op = VDVK_OP_BIND;
    c.arg[0] = SELF_BIND;
    c.arg[3] = ep;
    eng.Submit(c, 1000);
    return sink.last_result;
  };
  ASSERT_EQ(bind(srv, 0), 0);
  ASSERT_EQ(bind(cli, 1), 1);
  ASSERT_EQ(bind(peer, 2), 2);
  auto round = [&] {
    call(srv, VDVK_OP_RECEIVE, ANY, 0, 0, 100);  // blocks, with a deadline
    call(cli, VDVK_OP_SENDREC, 0);               // delivered, client waits
    call(srv, VDVK_OP_REPLY, 1);                 // answers the client
    call(peer, VDVK_OP_SEND, 0);                 // queued on srv
    call(srv, VDVK_OP_RECEIVE, ANY);             // takes it
    call(peer, VDVK_OP_NOTIFY, SELF, 0, 7);      // pending bit
    call(srv, VDVK_OP_RECEIVE, ANY);             // takes the notification
  };
  for (int i = 0; i < 200; ++i) round();  // warm up pools and maps
  const uint64_t before_completions = sink.completions;
  const uint64_t before = g_news.load();
  for (int i = 0; i < 1000; ++i) round();
  const uint64_t allocs = g_news.load() - before;
  EXPECT_EQ(allocs, 0u);
  EXPECT_EQ(sink.completions - before_completions, 1000u * 7u);  // see round()
  EXPECT_EQ(sink.last_result, 0);
  EXPECT_EQ(sink.last_type, NOTIFY_FROM(2));
  EXPECT_EQ(eng.counters().notifies, 1200u);
}

}  // namespace
}  // namespace vdvk
