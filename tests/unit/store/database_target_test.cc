// Database URLs as nova.conf and cloudcontroller.ini write them; the password never printed.
#include <gtest/gtest.h>

#include "store/store.h"

namespace gpucloud::store {
namespace {

TEST(DatabaseTarget, SqliteRelativeAbsoluteAndMemory) {
  EXPECT_EQ(DatabaseTarget::parse("sqlite:///rel/x.db")->path, "rel/x.db");
  EXPECT_EQ(DatabaseTarget::parse("sqlite:////abs/x.db")->path, "/abs/x.db");
  EXPECT_EQ(DatabaseTarget::parse("sqlite://")->path, "");
  EXPECT_FALSE(DatabaseTarget::parse("sqlite:///").ok());
  EXPECT_FALSE(DatabaseTarget::parse("sqlite:relative.db").ok());
}

TEST(DatabaseTarget, MysqlWithPortDriverAndEscapedPassword) {
  auto t =
      DatabaseTarget::parse("mysql+pymysql://nova:p%40ss%3Aw@db.example:3307/nova?charset=utf8");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->backend, Backend::kMysql);
  EXPECT_EQ(t->user, "nova");
  EXPECT_EQ(t->password, "p@ss:w");
  EXPECT_EQ(t->host, "db.example");
  EXPECT_EQ(t->port, 3307);
  EXPECT_EQ(t->database, "nova");
  EXPECT_EQ(t->query.at("charset"), "utf8");
  EXPECT_EQ(t->redacted(), "mysql://nova:***@db.example:3307/nova");
}

TEST(DatabaseTarget, SeedGpuQueryUrlWithoutPortOrDatabase) {
  auto t = DatabaseTarget::parse("mysql://cc:SECURE_PASSWORD@openstack_host");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "openstack_host");
  EXPECT_EQ(t->port, 3306);
  EXPECT_EQ(t->database, "");
  EXPECT_EQ(t->redacted().find("SECURE_PASSWORD"), std::string::npos);
}

TEST(DatabaseTarget, ErrorsNeverContainThePassword) {
  for (const char* url : {"postgresql://u:hunter2@h/db", "mysql://u:hunter2@h:port/db",
                          "mysql://u:hunter2%zz@h/db", "hunter2"}) {
    auto t = DatabaseTarget::parse(url);
    ASSERT_FALSE(t.ok()) << url;
    EXPECT_EQ(t.error().message.find("hunter2"), std::string::npos) << t.error().message;
  }
}

TEST(StoreEnums, SpellingsRoundTrip) {
  EXPECT_STREQ(to_string(PciDeviceStatus::kUnavailable), "unavailable");
  EXPECT_EQ(*parse_pci_device_status("allocated"), PciDeviceStatus::kAllocated);
  EXPECT_EQ(*parse_server_status("SHUTOFF"), ServerStatus::kShutoff);
  EXPECT_EQ(*parse_readiness("timed_out"), Readiness::kTimedOut);
  EXPECT_EQ(*parse_image_status("pending_delete"), ImageStatus::kPendingDelete);
  EXPECT_FALSE(parse_image_visibility("everyone").ok());
}

}  // namespace
}  // namespace gpucloud::store
