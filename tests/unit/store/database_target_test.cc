// The store's reading of database URLs: core's DatabaseUrl does the parsing (its own tests are in
// tests/unit/config and tests/unit/core); these check what the store adds, and that no error
// shows the password.
#include <gtest/gtest.h>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

TEST(DatabaseTarget, SqliteRelativeAbsoluteAndMemory) {
  EXPECT_EQ(DatabaseTarget::parse("sqlite:///rel/x.db")->path, "rel/x.db");
  EXPECT_EQ(DatabaseTarget::parse("sqlite:////abs/x.db")->path, "/abs/x.db");
  EXPECT_EQ(DatabaseTarget::parse("sqlite://")->path, "");
  EXPECT_EQ(DatabaseTarget::parse("sqlite:////abs/x.db")->redacted(), "sqlite:////abs/x.db");
  EXPECT_FALSE(DatabaseTarget::parse("sqlite:///").ok());
  EXPECT_FALSE(DatabaseTarget::parse("sqlite:relative.db").ok());
  auto host = DatabaseTarget::parse("sqlite://rel/x.db");
  ASSERT_FALSE(host.ok());
  EXPECT_NE(host.error().message.find("sqlite:///relative/path"), std::string::npos);
}

TEST(DatabaseTarget, MysqlWithPortDriverAndEscapedPassword) {
  auto t =
      DatabaseTarget::parse("mysql+pymysql://nova:p%40ss%3Aw@db.example:3307/nova?charset=utf8");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->backend, Backend::kMysql);
  EXPECT_EQ(t->url.user(), "nova");
  EXPECT_EQ(t->url.password(), "p@ss:w");
  EXPECT_EQ(t->url.host(), "db.example");
  EXPECT_EQ(t->url.port(), 3307);
  EXPECT_EQ(t->database, "nova");
  EXPECT_EQ(t->redacted(), "mysql+pymysql://nova:***@db.example:3307/nova?charset=utf8");
  EXPECT_EQ(DatabaseTarget::parse("mariadb://u@h/d")->backend, Backend::kMysql);
}

TEST(DatabaseTarget, SeedGpuQueryUrlWithoutPortOrDatabase) {
  auto t = DatabaseTarget::parse("mysql://cc:SECURE_PASSWORD@openstack_host");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->url.host(), "openstack_host");
  EXPECT_FALSE(t->url.port().has_value());  // the driver's default, 3306
  EXPECT_EQ(t->database, "");
  EXPECT_EQ(t->redacted(), "mysql://cc:***@openstack_host");
}

TEST(DatabaseTarget, EachErrorNamesTheProblemAndNeverThePassword) {
  struct Case {
    const char* url;
    const char* problem;
  };
  for (const Case& c : {
           Case{"postgresql://u:hunter2@h/db", "supports sqlite:/// and mysql://"},
           Case{"mysql://u:hunter2@h:port/db", "port 'port'"},
           Case{"oracle://u:hunter2@h/db", "unknown dialect 'oracle'"},
           Case{"sqlite://u:hunter2@h/x.db", "SQLite URLs name a file, not a host"},
           Case{"hunter2", "expected dialect"},
       }) {
    auto t = DatabaseTarget::parse(c.url);
    ASSERT_FALSE(t.ok()) << c.url;
    EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument) << c.url;
    EXPECT_NE(t.error().message.find(c.problem), std::string::npos) << t.error().message;
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
