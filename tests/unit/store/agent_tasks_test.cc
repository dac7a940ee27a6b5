// The agents' task queue in SQLite: pending -> running -> succeeded/failed, each task handed out
// once, and a task that outlives the store object (a server restart loses nothing).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "store/store.h"

namespace gpucloud::store {
namespace {

class AgentTasksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gpucloud-agent-tasks-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    url_ = "sqlite:///" + (dir_ / "db.sqlite").string();
    reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    store_.reset();
    auto s = open_store(url_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  AgentTask task(const std::string& host, const std::string& kind) {
    AgentTask t;
    t.host = host;
    t.kind = kind;
    t.instance_uuid = "11111111-2222-3333-4444-555555555555";
    t.payload = R"({"x": 1})";
    auto made = store_->create_agent_task(t);
    EXPECT_TRUE(made.ok()) << made.error().message;
    return made.ok() ? *made : t;
  }

  std::filesystem::path dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

TEST_F(AgentTasksTest, TakenOnceOldestFirstAndFinishedOnce) {
  AgentTask a = task("kvm1", "spawn");
  AgentTask b = task("kvm1", "destroy");
  task("kvm2", "spawn");
  EXPECT_EQ(a.state, AgentTaskState::kPending);
  EXPECT_FALSE(a.id.empty());
  auto first = store_->take_agent_tasks("kvm1", 1);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].id, a.id);
  EXPECT_EQ((*first)[0].state, AgentTaskState::kRunning);
  EXPECT_EQ((*first)[0].payload, R"({"x": 1})");
  auto rest = store_->take_agent_tasks("kvm1", 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].id, b.id);
  EXPECT_TRUE(store_->take_agent_tasks("kvm1", 10)->empty());

  // Another host's agent cannot answer it; the outcome is recorded once.
  EXPECT_EQ(store_->finish_agent_task(a.id, "kvm2", true, "", "{}").error().code,
            ErrorCode::kNotFound);
  ASSERT_TRUE(store_->finish_agent_task(a.id, "kvm1", false, "no memory", "{}").ok());
  EXPECT_EQ(store_->finish_agent_task(a.id, "kvm1", true, "", "{}").error().code,
            ErrorCode::kConflict);
  auto done = store_->get_agent_task(a.id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, AgentTaskState::kFailed);
  EXPECT_EQ(done->message, "no memory");
  EXPECT_TRUE(done->finished_at.has_value());
  EXPECT_EQ(store_->get_agent_task("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->list_agent_tasks("")->size(), 3u);
  EXPECT_EQ(store_->list_agent_tasks("kvm2")->size(), 1u);
}

TEST_F(AgentTasksTest, APendingTaskSurvivesAServerRestart) {
  AgentTask a = task("kvm1", "spawn");
  reopen();
  auto taken = store_->take_agent_tasks("kvm1", 5);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ((*taken)[0].id, a.id);
  EXPECT_EQ((*taken)[0].kind, "spawn");
}

TEST_F(AgentTasksTest, UnansweredTasksAreHandedOutAgain) {
  AgentTask a = task("kvm1", "spawn");
  AgentTask b = task("kvm2", "spawn");
  ASSERT_EQ(store_->take_agent_tasks("kvm1", 5)->size(), 1u);
  ASSERT_EQ(store_->take_agent_tasks("kvm2", 5)->size(), 1u);
  ASSERT_TRUE(store_->finish_agent_task(b.id, "kvm2", true, "", "{}").ok());
  EXPECT_EQ(*store_->requeue_agent_tasks("kvm1"), 1);
  EXPECT_EQ(*store_->requeue_agent_tasks("kvm2"), 0);  // finished tasks stay finished
  auto again = store_->take_agent_tasks("kvm1", 5);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].id, a.id);
  EXPECT_EQ(store_->get_agent_task(b.id)->state, AgentTaskState::kSucceeded);
}

TEST_F(AgentTasksTest, InvalidTasksAreRefused) {
  AgentTask t;
  t.kind = "spawn";
  EXPECT_EQ(store_->create_agent_task(t).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(AgentTasksTest, ReportsKeepTheLastPerHostAndKind) {
  ASSERT_TRUE(store_->put_agent_report({"kvm1", "orphans", R"({"n": 1})", {}}).ok());
  ASSERT_TRUE(store_->put_agent_report({"kvm1", "orphans", R"({"n": 2})", {}}).ok());
  ASSERT_TRUE(store_->put_agent_report({"kvm2", "orphans", R"({"n": 3})", {}}).ok());
  auto all = store_->list_agent_reports("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].report, R"({"n": 2})");
  auto one = store_->list_agent_reports("kvm2");
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].host, "kvm2");
}

}  // namespace
}  // namespace gpucloud::store
