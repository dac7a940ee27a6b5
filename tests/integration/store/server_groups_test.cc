// Server groups on both backends: membership written with the server, members as the live
// servers, the group quotas, and the claim's own check of the group's policy (the scheduler's
// view may be stale; the claim is what must never break the policy). The race between processes
// is in concurrency_test.cc.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

Instance group_member(const std::string& uuid, const std::string& project = "p1") {
  Instance i;
  i.uuid = uuid;
  i.name = "vm-" + uuid;
  i.project_id = project;
  i.user_id = "u1";
  i.flavor_id = "1";
  i.image_id = "img";
  return i;
}

LifecycleTask group_boot() {
  LifecycleTask t;
  t.kind = "boot";
  t.step = "schedule";
  return t;
}

ServerGroup new_group(const std::string& uuid, const std::string& policy,
                      std::optional<int> max_per_host = std::nullopt) {
  ServerGroup g;
  g.uuid = uuid;
  g.name = "g-" + uuid;
  g.project_id = "p1";
  g.user_id = "u1";
  g.policy = policy;
  g.max_server_per_host = max_per_host;
  return g;
}

ClaimRequest plain_claim(const std::string& instance, const std::string& host,
                         const std::string& group) {
  ClaimRequest c;
  c.instance_uuid = instance;
  c.project_id = "p1";
  c.host = host;
  c.resources = {2, 1024, 10};
  c.server_group = group;
  return c;
}

TEST_P(StoreTest, ServerGroupMembersAreItsLiveServers) {
  ASSERT_TRUE(store().create_server_group(new_group("g1", "anti-affinity", 2)).ok());
  ASSERT_TRUE(
      store().create_instance_with_task(group_member("i1"), group_boot(), nullptr, "g1").ok());
  ASSERT_TRUE(
      store().create_instance_with_task(group_member("i2"), group_boot(), nullptr, "g1").ok());
  ASSERT_TRUE(store().create_instance_with_task(group_member("i3"), group_boot()).ok());
  auto g = store().get_server_group("g1");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->policy, "anti-affinity");
  EXPECT_EQ(g->max_server_per_host, 2);
  EXPECT_EQ(g->members, (std::vector<std::string>{"i1", "i2"}));
  auto of = store().server_group_of("i2");
  ASSERT_TRUE(of.ok() && of->has_value());
  EXPECT_EQ((*of)->uuid, "g1");
  EXPECT_FALSE(store().server_group_of("i3")->has_value());

  // A deleted server leaves the group; deleting the group leaves the servers.
  ASSERT_TRUE(store().begin_delete("i1").ok());
  EXPECT_EQ(store().get_server_group("g1")->members, (std::vector<std::string>{"i2"}));
  ASSERT_TRUE(store().delete_server_group("g1").ok());
  EXPECT_EQ(store().get_server_group("g1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().delete_server_group("g1").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(store().get_instance("i2").ok());
  EXPECT_FALSE(store().server_group_of("i2")->has_value());
}

TEST_P(StoreTest, JoiningAMissingOrFullGroupCreatesNoServer) {
  auto missing =
      store().create_instance_with_task(group_member("i1"), group_boot(), nullptr, "nope");
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().get_instance("i1").error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(store()
                  .set_project_quotas("p1", "", {{"server_group_members", 1}, {"server_groups", 1}})
                  .ok());
  ASSERT_TRUE(store().create_server_group(new_group("g1", "affinity")).ok());
  auto second = store().create_server_group(new_group("g2", "affinity"));
  EXPECT_EQ(second.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(store().quota_usage("p1", "")->server_groups, 1);
  ASSERT_TRUE(
      store().create_instance_with_task(group_member("i1"), group_boot(), nullptr, "g1").ok());
  auto full = store().create_instance_with_task(group_member("i2"), group_boot(), nullptr, "g1");
  EXPECT_EQ(full.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(store().get_instance("i2").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().get_server_group("g1")->members, (std::vector<std::string>{"i1"}));
}

TEST_P(StoreTest, ClaimRefusesAHostThatWouldBreakTheGroupsPolicy) {
  add_gpu_host("h1", 0);
  add_gpu_host("h2", 0);
  ASSERT_TRUE(store().create_server_group(new_group("anti", "anti-affinity")).ok());
  ASSERT_TRUE(store().create_server_group(new_group("pair", "anti-affinity", 2)).ok());
  ASSERT_TRUE(store().create_server_group(new_group("aff", "affinity")).ok());
  for (const char* i : {"a1", "a2"}) {
    ASSERT_TRUE(
        store().create_instance_with_task(group_member(i), group_boot(), nullptr, "anti").ok());
  }
  for (const char* i : {"p1", "p2", "p3"}) {
    ASSERT_TRUE(
        store().create_instance_with_task(group_member(i), group_boot(), nullptr, "pair").ok());
  }
  for (const char* i : {"f1", "f2"}) {
    ASSERT_TRUE(
        store().create_instance_with_task(group_member(i), group_boot(), nullptr, "aff").ok());
  }

  ASSERT_TRUE(store().claim(plain_claim("a1", "h1", "anti")).ok());
  const int used = store().get_compute_host("h1")->vcpus_used;
  auto same = store().claim(plain_claim("a2", "h1", "anti"));
  ASSERT_FALSE(same.ok());
  EXPECT_EQ(same.error().code, ErrorCode::kConflict);
  EXPECT_EQ(store().get_compute_host("h1")->vcpus_used, used);  // nothing of it stayed
  EXPECT_TRUE(store().claim(plain_claim("a2", "h2", "anti")).ok());
  EXPECT_EQ(*store().server_group_hosts("anti", ""),
            (std::map<std::string, int>{{"h1", 1}, {"h2", 1}}));

  // max_server_per_host 2: two share h1, the third may not.
  EXPECT_TRUE(store().claim(plain_claim("p1", "h1", "pair")).ok());
  EXPECT_TRUE(store().claim(plain_claim("p2", "h1", "pair")).ok());
  EXPECT_EQ(store().claim(plain_claim("p3", "h1", "pair")).error().code, ErrorCode::kConflict);

  // Affinity: the first member's host is the group's.
  EXPECT_TRUE(store().claim(plain_claim("f1", "h2", "aff")).ok());
  EXPECT_EQ(store().claim(plain_claim("f2", "h1", "aff")).error().code, ErrorCode::kConflict);
  EXPECT_TRUE(store().claim(plain_claim("f2", "h2", "aff")).ok());
  // A released member no longer holds its host.
  ASSERT_TRUE(store().release_claims("f1", false).ok());
  ASSERT_TRUE(store().release_claims("f2", false).ok());
  EXPECT_TRUE(store().server_group_hosts("aff", "")->empty());
}

}  // namespace
}  // namespace gpucloud::store::testing
