// The agents' task queue on both backends: tasks taken by concurrent pollers (two server
// replicas answering one agent's polls) are each handed out exactly once.
#include <set>
#include <thread>

#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

TEST_P(StoreTest, AgentTasksAreTakenExactlyOnceByConcurrentPollers) {
  constexpr int kTasks = 40;
  std::set<std::string> created;
  for (int i = 0; i < kTasks; ++i) {
    AgentTask t;
    t.host = "kvm1";
    t.kind = "destroy";
    t.instance_uuid = "instance-" + std::to_string(i);
    auto made = store().create_agent_task(t);
    ASSERT_TRUE(made.ok()) << made.error().message;
    created.insert(made->id);
  }
  auto other = open_store(db().url());
  ASSERT_TRUE(other.ok()) << other.error().message;
  std::vector<std::string> a, b;
  auto poll = [](Store& s, std::vector<std::string>& out) {
    for (int round = 0; round < 100; ++round) {
      auto got = s.take_agent_tasks("kvm1", 3);
      ASSERT_TRUE(got.ok()) << got.error().message;
      for (const auto& t : *got) out.push_back(t.id);
    }
  };
  std::thread ta([&] { poll(store(), a); });
  std::thread tb([&] { poll(**other, b); });
  ta.join();
  tb.join();
  std::multiset<std::string> taken(a.begin(), a.end());
  taken.insert(b.begin(), b.end());
  EXPECT_EQ(taken.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(std::set<std::string>(taken.begin(), taken.end()), created);
  for (const auto& id : created) {
    EXPECT_EQ(store().get_agent_task(id)->state, AgentTaskState::kRunning);
  }
}

TEST_P(StoreTest, AgentTaskOutcomeAndReports) {
  AgentTask t;
  t.host = "kvm1";
  t.kind = "spawn";
  t.payload = R"({"instance": {"uuid": "u"}})";
  auto made = store().create_agent_task(t);
  ASSERT_TRUE(made.ok()) << made.error().message;
  ASSERT_EQ(store().take_agent_tasks("kvm1", 5)->size(), 1u);
  ASSERT_TRUE(store().finish_agent_task(made->id, "kvm1", true, "", R"({"ok": 1})").ok());
  EXPECT_EQ(store().finish_agent_task(made->id, "kvm1", false, "late", "{}").error().code,
            ErrorCode::kConflict);
  auto done = store().get_agent_task(made->id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, AgentTaskState::kSucceeded);
  EXPECT_EQ(done->payload, t.payload);
  EXPECT_EQ(done->result, R"({"ok": 1})");
  ASSERT_TRUE(store().put_agent_report({"kvm1", "orphans", R"({"n": 1})", {}}).ok());
  ASSERT_TRUE(store().put_agent_report({"kvm1", "orphans", R"({"n": 2})", {}}).ok());
  auto reports = store().list_agent_reports("kvm1");
  ASSERT_TRUE(reports.ok());
  ASSERT_EQ(reports->size(), 1u);
  EXPECT_EQ((*reports)[0].report, R"({"n": 2})");
}

}  // namespace
}  // namespace gpucloud::store::testing
