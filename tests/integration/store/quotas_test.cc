// nova's quotas on both backends: limits laid over each other (nova's defaults, the 'default'
// class, the project, a user in it), the usage they count, and the instances quota checked in
// the create's own transaction so that concurrent creates never exceed it.
#include <atomic>
#include <thread>

#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

Instance quota_instance(const std::string& uuid, const std::string& user = "u1") {
  Instance i;
  i.uuid = uuid;
  i.name = "vm-" + uuid;
  i.project_id = "p1";
  i.user_id = user;
  i.flavor_id = "f2";
  i.image_id = "img";
  return i;
}

LifecycleTask quota_boot() {
  LifecycleTask t;
  t.kind = "boot";
  t.step = "schedule";
  return t;
}

void add_flavor(Store& s) {
  Flavor f;
  f.id = "f2";
  f.name = "two";
  f.vcpus = 2;
  f.memory_mb = 1024;
  ASSERT_TRUE(s.create_flavor(f).ok());
}

TEST_P(StoreTest, QuotaLimitsLayerDefaultsClassProjectAndUser) {
  auto d = store().project_quotas("p1", "");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->at("instances"), 10);
  EXPECT_EQ(d->at("fixed_ips"), -1);
  EXPECT_EQ(d->size(), quota_resources().size());
  ASSERT_TRUE(store().set_quota_class("default", {{"instances", 50}, {"cores", 60}}).ok());
  ASSERT_TRUE(store().set_quota_class("default", {{"instances", 40}}).ok());  // replaces
  ASSERT_TRUE(store().set_project_quotas("p1", "", {{"cores", 8}}).ok());
  ASSERT_TRUE(store().set_project_quotas("p1", "u1", {{"cores", 4}, {"ram", -1}}).ok());
  EXPECT_EQ(store().project_quotas("p1", "")->at("instances"), 40);
  EXPECT_EQ(store().project_quotas("p1", "")->at("cores"), 8);
  EXPECT_EQ(store().project_quotas("p1", "u1")->at("cores"), 4);
  EXPECT_EQ(store().project_quotas("p1", "u1")->at("ram"), -1);
  EXPECT_EQ(store().project_quotas("p2", "")->at("cores"), 60);
  EXPECT_EQ(store().quota_class("default")->at("cores"), 60);
  EXPECT_EQ(store().quota_class("gold")->at("cores"), 20);  // nova's default
  // Unknown resources and limits below -1 are refused and change nothing.
  EXPECT_EQ(store().set_project_quotas("p1", "", {{"bananas", 1}}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(store().set_project_quotas("p1", "", {{"ram", -2}}).error().code,
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(store().delete_project_quotas("p1", "").ok());
  EXPECT_EQ(store().project_quotas("p1", "u1")->at("cores"), 60);
}

TEST_P(StoreTest, QuotaUsageCountsLiveServersTheirFlavorsAndTheUsersKeyPairs) {
  add_flavor(store());
  ASSERT_TRUE(store().create_instance_with_task(quota_instance("a"), quota_boot()).ok());
  ASSERT_TRUE(store().create_instance_with_task(quota_instance("b", "u2"), quota_boot()).ok());
  ASSERT_TRUE(store().create_instance_with_task(quota_instance("c"), quota_boot()).ok());
  ASSERT_TRUE(store().begin_delete("c").ok());
  KeyPair k;
  k.user_id = "u1";
  k.name = "k";
  k.public_key = "ssh-ed25519 AAAA";
  ASSERT_TRUE(store().create_keypair(k).ok());
  auto all = store().quota_usage("p1", "");
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(all->instances, 2);
  EXPECT_EQ(all->cores, 4);
  EXPECT_EQ(all->ram, 2048);
  auto u1 = store().quota_usage("p1", "u1");
  EXPECT_EQ(u1->instances, 1);
  EXPECT_EQ(u1->key_pairs, 1);
}

TEST_P(StoreTest, CreateOverQuotaIsForbiddenAndWritesNothing) {
  add_flavor(store());
  ASSERT_TRUE(
      store().create_project({"p1", "demo", "default", "", true, {}, std::nullopt, {}}).ok());
  ASSERT_TRUE(store().set_project_quotas("p1", "", {{"cores", 3}}).ok());
  const InstanceQuotaRequest two{2, 1024};
  ASSERT_TRUE(store().create_instance_with_task(quota_instance("a"), quota_boot(), &two).ok());
  auto s = store().create_instance_with_task(quota_instance("b"), quota_boot(), &two);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(s.error().message,
            "Quota exceeded for cores: Requested 2, but already used 2 of 3 cores");
  EXPECT_FALSE(store().get_instance("b").ok());
  EXPECT_EQ(store().list_lifecycle_tasks()->size(), 1u);
}

TEST_P(StoreTest, ConcurrentCreatesNeverExceedTheInstancesQuota) {
  add_flavor(store());
  ASSERT_TRUE(
      store().create_project({"p1", "demo", "default", "", true, {}, std::nullopt, {}}).ok());
  ASSERT_TRUE(store().set_project_quotas("p1", "", {{"instances", 3}}).ok());
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
  const InstanceQuotaRequest req{2, 1024};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto s = store().create_instance_with_task(quota_instance("t" + std::to_string(t)),
                                                 quota_boot(), &req);
      if (s.ok()) ++ok;
      if (!s.ok() && s.error().code == ErrorCode::kForbidden) ++refused;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 3);
  EXPECT_EQ(refused.load(), 5);
  EXPECT_EQ(store().quota_usage("p1", "")->instances, 3);
}

}  // namespace
}  // namespace gpucloud::store::testing
