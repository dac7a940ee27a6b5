// os-simple-tenant-usage, os-migrations and os-hosts: nova's usage and host reports over the
// servers the compute API booted.
#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

std::string in_hours(int h) {
  const auto t = std::chrono::system_clock::now() + std::chrono::hours(h);
  return iso8601(t).substr(0, 19);
}

TEST_F(ComputeTest, TenantUsageCountsEachServersHoursAndFlavor) {
  seed_aggregates();
  const std::string id = boot(alice_, "used", "2");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  const std::string period = "?start=" + in_hours(-1) + "&end=" + in_hours(1);
  const std::string demo = store_->get_instance(id)->project_id;
  json u = get_json(kV + "/os-simple-tenant-usage/" + demo + period, alice_)["tenant_usage"];
  ASSERT_EQ(u["server_usages"].size(), 1u) << u.dump();
  const json& s = u["server_usages"][0];
  EXPECT_EQ(s["instance_id"], id);
  EXPECT_EQ(s["state"], "active");
  EXPECT_EQ(s["vcpus"], store_->get_flavor("2")->vcpus);
  // Launched seconds ago: a small positive number of hours, and vCPU-hours follow the flavor.
  EXPECT_GT(u["total_hours"].get<double>(), 0.0);
  EXPECT_LT(u["total_hours"].get<double>(), 0.1);
  EXPECT_NEAR(u["total_vcpus_usage"].get<double>(),
              u["total_hours"].get<double>() * store_->get_flavor("2")->vcpus, 1e-6);
  // A period before the server existed shows nothing.
  json before = get_json(
      kV + "/os-simple-tenant-usage/" + demo + "?start=" + in_hours(-5) + "&end=" + in_hours(-4),
      alice_)["tenant_usage"];
  EXPECT_TRUE(before.empty()) << before.dump();
  // Admins list every project; members may not, nor read another project's usage.
  json all = get_json(kV + "/os-simple-tenant-usage" + period + "&detailed=1", admin_);
  ASSERT_EQ(all["tenant_usages"].size(), 1u) << all.dump();
  EXPECT_EQ(all["tenant_usages"][0]["tenant_id"], demo);
  EXPECT_EQ(get(kV + "/os-simple-tenant-usage" + period, alice_)->status, 403);
  EXPECT_EQ(get(kV + "/os-simple-tenant-usage/" + demo + period, bob_)->status, 403);
  // Bad periods are 400.
  EXPECT_EQ(get(kV + "/os-simple-tenant-usage/" + demo + "?start=yesterday", alice_)->status, 400);
  EXPECT_EQ(
      get(kV + "/os-simple-tenant-usage/" + demo + "?start=" + in_hours(1) + "&end=" + in_hours(-1),
          alice_)
          ->status,
      400);
  // A deleted server still counts for the time it lived.
  ASSERT_EQ(del(kV + "/servers/" + id, alice_)->status, 204);
  u = get_json(kV + "/os-simple-tenant-usage/" + demo + period, alice_)["tenant_usage"];
  ASSERT_EQ(u["server_usages"].size(), 1u);
  EXPECT_EQ(u["server_usages"][0]["state"], "terminated");
  EXPECT_FALSE(u["server_usages"][0]["ended_at"].is_null());
}

TEST_F(ComputeTest, HostsListByZoneAndShowResources) {
  seed_aggregates();
  json hosts = get_json(kV + "/os-hosts", admin_)["hosts"];
  ASSERT_EQ(hosts.size(), 3u);
  EXPECT_EQ(hosts[0]["service"], "compute");
  EXPECT_EQ(get_json(kV + "/os-hosts?zone=Denver", admin_)["hosts"].size(), 3u);
  EXPECT_EQ(get_json(kV + "/os-hosts?zone=nowhere", admin_)["hosts"].size(), 0u);
  EXPECT_EQ(get(kV + "/os-hosts", alice_)->status, 403);
  const std::string id = boot(alice_, "on3", "4");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  json detail = get_json(kV + "/os-hosts/vmhost3", admin_)["host"];
  ASSERT_EQ(detail.size(), 4u) << detail.dump();  // total, used_now, used_max, one project
  EXPECT_EQ(detail[0]["resource"]["project"], "(total)");
  EXPECT_EQ(detail[0]["resource"]["cpu"], 40);
  EXPECT_EQ(detail[3]["resource"]["project"], store_->get_instance(id)->project_id);
  EXPECT_EQ(detail[3]["resource"]["cpu"], store_->get_flavor("4")->vcpus);
  EXPECT_EQ(get(kV + "/os-hosts/nosuch", admin_)->status, 404);
  // gpucloud never migrates: the list is empty.
  EXPECT_EQ(get_json(kV + "/os-migrations", admin_)["migrations"], json::array());
  EXPECT_EQ(get(kV + "/os-migrations", alice_)->status, 403);
}

}  // namespace
}  // namespace gpucloud::api::testing
