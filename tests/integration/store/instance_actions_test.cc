// nova's instance actions (schema version 10) on both backends: newest first, one row per
// request, and another instance's rows apart.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

TEST_P(StoreTest, InstanceActionsListNewestFirstOncePerRequest) {
  const auto t0 = std::chrono::system_clock::now();
  InstanceAction a;
  a.instance_uuid = "11111111-1111-1111-1111-111111111111";
  a.user_id = "u1";
  a.project_id = "p1";
  a.request_id = "req-1";
  a.action = "create";
  a.start_time = a.updated_at = t0;
  ASSERT_TRUE(store().record_instance_action(a).ok());
  a.request_id = "req-2";
  a.action = "stop";
  a.message = "by hand";
  a.start_time = a.updated_at = t0 + std::chrono::milliseconds(5);
  ASSERT_TRUE(store().record_instance_action(a).ok());
  // The same request again keeps the first record.
  a.action = "start";
  ASSERT_TRUE(store().record_instance_action(a).ok());
  InstanceAction other = a;
  other.instance_uuid = "22222222-2222-2222-2222-222222222222";
  other.request_id = "req-3";
  ASSERT_TRUE(store().record_instance_action(other).ok());

  auto list = store().list_instance_actions(a.instance_uuid);
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].request_id, "req-2");
  EXPECT_EQ((*list)[0].action, "stop");
  EXPECT_EQ((*list)[0].message, std::optional<std::string>("by hand"));
  EXPECT_EQ((*list)[1].action, "create");
  EXPECT_FALSE((*list)[1].message.has_value());
  EXPECT_EQ((*list)[1].user_id, "u1");
  EXPECT_LT((*list)[1].start_time, (*list)[0].start_time);
  EXPECT_TRUE(store().list_instance_actions("33333333-3333-3333-3333-333333333333")->empty());
}

}  // namespace
}  // namespace gpucloud::store::testing
