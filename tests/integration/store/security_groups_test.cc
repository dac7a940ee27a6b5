// Security groups on both backends: names per project, rules, membership written with the
// server, and the firewall rules each guest gets (remote groups resolved to addresses). The
// race between processes is in concurrency_test.cc.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

SecurityGroup sg(const std::string& id, const std::string& project = "p1") {
  SecurityGroup g;
  g.id = id;
  g.project_id = project;
  g.name = "n-" + id;
  g.description = "d";
  return g;
}

SecurityGroupRule tcp(const std::string& id, const std::string& group, int port,
                      const std::string& cidr) {
  SecurityGroupRule r;
  r.id = id;
  r.group_id = group;
  r.protocol = "tcp";
  r.from_port = port;
  r.to_port = port;
  r.cidr = cidr;
  return r;
}

// A server on `host` in `groups`, managed (as the API makes every server now).
void boot(Store& s, const std::string& uuid, const std::string& host,
          const std::vector<std::string>& groups) {
  Instance i;
  i.uuid = uuid;
  i.name = uuid;
  i.project_id = "p1";
  i.system_metadata[kSecurityGroupsManaged] = "true";
  LifecycleTask t;
  t.kind = "boot";
  t.step = "schedule";
  ASSERT_TRUE(s.create_instance_with_task(i, t, nullptr, "", groups).ok());
  ASSERT_TRUE(s.set_instance_host(uuid, host).ok());
}

TEST_P(StoreTest, SecurityGroupsKeepNamesRulesAndMembers) {
  ASSERT_TRUE(store().create_security_group(sg("a")).ok());
  EXPECT_EQ(store()
                .create_security_group([] {
                  auto g = sg("a2");
                  g.name = "n-a";
                  return g;
                }())
                .error()
                .code,
            ErrorCode::kConflict);
  ASSERT_TRUE(store().create_security_group(sg("a3", "p2")).ok());  // other project, own names
  ASSERT_TRUE(store().add_security_group_rule(tcp("r1", "a", 22, "0.0.0.0/0")).ok());
  EXPECT_EQ(store().add_security_group_rule(tcp("r2", "a", 22, "0.0.0.0/0")).error().code,
            ErrorCode::kConflict);
  EXPECT_EQ(store().add_security_group_rule(tcp("r3", "missing", 22, "0.0.0.0/0")).error().code,
            ErrorCode::kNotFound);
  auto d1 = store().default_security_group("p1", "def-1");
  auto d2 = store().default_security_group("p1", "def-2");
  ASSERT_TRUE(d1.ok() && d2.ok());
  EXPECT_EQ(d1->id, "def-1");
  EXPECT_EQ(d2->id, "def-1");  // made once

  boot(store(), "i1", "h1", {"a", "def-1"});
  auto groups = store().instance_security_groups("i1");
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ(groups->size(), 2u);
  EXPECT_EQ(store().delete_security_group("a").error().code, ErrorCode::kConflict);
  EXPECT_EQ(store().add_instance_security_group("i1", "a").error().code, ErrorCode::kConflict);
  ASSERT_TRUE(store().remove_instance_security_group("i1", "a").ok());
  EXPECT_EQ(store().remove_instance_security_group("i1", "a").error().code, ErrorCode::kConflict);
  ASSERT_TRUE(store().delete_security_group("a").ok());
  EXPECT_EQ(store().get_security_group_rule("r1").error().code, ErrorCode::kNotFound);
  auto usage = store().quota_usage("p1", "");
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->security_groups, 1);  // the default group
}

TEST_P(StoreTest, EachGuestGetsItsGroupsRulesWithRemoteGroupsResolved) {
  for (const char* g : {"web", "db", "admin"})
    ASSERT_TRUE(store().create_security_group(sg(g)).ok());
  ASSERT_TRUE(store().add_security_group_rule(tcp("w22", "web", 22, "192.0.2.0/24")).ok());
  SecurityGroupRule from_web;
  from_web.id = "d-from-web";
  from_web.group_id = "db";
  from_web.protocol = "tcp";
  from_web.from_port = 5432;
  from_web.to_port = 5432;
  from_web.remote_group_id = "web";
  ASSERT_TRUE(store().add_security_group_rule(from_web).ok());
  boot(store(), "w1", "h1", {"web"});
  boot(store(), "w2", "h2", {"web"});
  boot(store(), "d1", "h1", {"db"});
  boot(store(), "lone", "h1", {});
  ASSERT_TRUE(store().set_instance_address("w1", "10.0.0.11").ok());
  ASSERT_TRUE(store().set_instance_address("w2", "10.0.0.12").ok());

  auto h1 = store().ingress_rules("h1");
  ASSERT_TRUE(h1.ok()) << h1.error().message;
  ASSERT_EQ(h1->size(), 3u);  // w1, d1 and lone (managed, in no group: nothing comes in)
  EXPECT_TRUE(h1->at("lone").empty());
  ASSERT_EQ(h1->at("w1").size(), 1u);
  EXPECT_EQ(h1->at("w1")[0].cidr, "192.0.2.0/24");
  std::set<std::string> sources;
  for (const auto& r : h1->at("d1")) {
    EXPECT_EQ(r.protocol, "tcp");
    EXPECT_EQ(r.from_port, 5432);
    sources.insert(r.cidr);
  }
  EXPECT_EQ(sources, (std::set<std::string>{"10.0.0.11/32", "10.0.0.12/32"}));
  // One instance alone, and the servers a change to "web" reaches.
  auto one = store().ingress_rules("", "w2");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  auto reach = store().security_group_reach("web");
  ASSERT_TRUE(reach.ok());
  EXPECT_EQ(*reach, (std::map<std::string, std::string>{{"w1", "h1"}, {"w2", "h2"}, {"d1", "h1"}}));
  // A deleted server's address no longer opens the database's port.
  ASSERT_TRUE(store().begin_delete("w2").ok());
  sources.clear();
  for (const auto& r : store().ingress_rules("h1")->at("d1")) sources.insert(r.cidr);
  EXPECT_EQ(sources, (std::set<std::string>{"10.0.0.11/32"}));
  // A server without the marker (from before security groups) is not managed.
  Instance old;
  old.uuid = "old";
  old.name = "old";
  old.project_id = "p1";
  LifecycleTask t;
  t.kind = "boot";
  t.step = "schedule";
  ASSERT_TRUE(store().create_instance_with_task(old, t).ok());
  ASSERT_TRUE(store().set_instance_host("old", "h1").ok());
  EXPECT_EQ(store().ingress_rules("h1")->count("old"), 0u);
}

}  // namespace
}  // namespace gpucloud::store::testing
