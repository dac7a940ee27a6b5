// DatabaseUrl lives in core; it is tested here with the configuration that carries it.
#include <gtest/gtest.h>

#include "core/core.h"

namespace gpucloud {
namespace {

TEST(DatabaseUrl, SeedGpuQueryHasUserPasswordAndHost) {
  auto u = DatabaseUrl::parse("mysql://cc:SECURE_PASSWORD@openstack_host");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->dialect(), "mysql");
  EXPECT_EQ(u->driver(), "");
  EXPECT_EQ(u->user(), "cc");
  EXPECT_EQ(u->password(), "SECURE_PASSWORD");
  EXPECT_EQ(u->host(), "openstack_host");
  EXPECT_FALSE(u->port().has_value());
  EXPECT_EQ(u->database(), "");
  EXPECT_TRUE(u->is_mysql());
  EXPECT_EQ(u->redacted(), "mysql://cc:***@openstack_host");
}

TEST(DatabaseUrl, PortDatabaseDriverAndQuery) {
  auto u = DatabaseUrl::parse("mysql+pymysql://u:p@h:3306/nova?charset=utf8&plugin=a%20b");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->dialect(), "mysql");
  EXPECT_EQ(u->driver(), "pymysql");
  EXPECT_EQ(u->port(), 3306);
  EXPECT_EQ(u->database(), "nova");
  ASSERT_EQ(u->query().size(), 2u);
  EXPECT_EQ(u->query()[0].first, "charset");
  EXPECT_EQ(u->query()[0].second, "utf8");
  EXPECT_EQ(u->query()[1].second, "a b");
  EXPECT_EQ(u->redacted(), "mysql+pymysql://u:***@h:3306/nova?charset=utf8&plugin=a%20b");
}

TEST(DatabaseUrl, SqliteThreeSlashesIsRelativeFourIsAbsolute) {
  // SQLAlchemy: sqlite:///foo.db is foo.db in the working directory, sqlite:////x/foo.db is
  // /x/foo.db, sqlite:// is an in-memory database.
  auto rel = DatabaseUrl::parse("sqlite:///var/gpucloud.db");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->database(), "var/gpucloud.db");
  EXPECT_TRUE(rel->is_sqlite());
  auto abs = DatabaseUrl::parse("sqlite:////var/lib/gpucloud.db");
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ(abs->database(), "/var/lib/gpucloud.db");
  EXPECT_EQ(abs->redacted(), "sqlite:////var/lib/gpucloud.db");
  auto mem = DatabaseUrl::parse("sqlite://");
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(mem->database(), "");
}

TEST(DatabaseUrl, CredentialsArePercentDecoded) {
  auto u = DatabaseUrl::parse("mysql://us%65r:p%40ss%2Fw:rd@db/nova");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->user(), "user");
  EXPECT_EQ(u->password(), "p@ss/w:rd");
  EXPECT_EQ(u->host(), "db");
  EXPECT_EQ(u->redacted(), "mysql://user:***@db/nova");
}

TEST(DatabaseUrl, UserWithoutPasswordAndIpv6Host) {
  auto u = DatabaseUrl::parse("postgresql://nova@[::1]:5432/nova");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->user(), "nova");
  EXPECT_FALSE(u->has_password());
  EXPECT_EQ(u->host(), "::1");
  EXPECT_EQ(u->redacted(), "postgresql://nova@[::1]:5432/nova");
}

TEST(DatabaseUrl, SeveralHostsAreTheNodesOfACluster) {
  // A Galera cluster: the store tries the nodes in the order given (docs/galera.md). The list
  // stays one text here; the store splits it.
  auto u = DatabaseUrl::parse("mysql://g:pw@db1:3306,db2,[::1]:3308/gpucloud");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->host(), "db1:3306,db2,[::1]:3308");
  EXPECT_FALSE(u->port().has_value());
  EXPECT_EQ(u->password(), "pw");
  EXPECT_EQ(u->database(), "gpucloud");
  EXPECT_EQ(u->redacted(), "mysql://g:***@db1:3306,db2,[::1]:3308/gpucloud");
}

TEST(DatabaseUrl, ABadPortInTheListIsAnError) {
  auto u = DatabaseUrl::parse("mysql://u:secret@a:1,b:99999/db");
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message.find("99999"), std::string::npos) << u.error().message;
  EXPECT_EQ(u.error().message.find("secret"), std::string::npos);
}

TEST(DatabaseUrl, AnEmptyHostInTheListIsAnError) {
  for (const char* text :
       {"mysql://u:secret@a,/db", "mysql://u:secret@,b/db", "mysql://u:secret@a,,b/db"}) {
    auto u = DatabaseUrl::parse(text);
    ASSERT_FALSE(u.ok()) << text;
    EXPECT_NE(u.error().message.find("empty host"), std::string::npos) << u.error().message;
    EXPECT_EQ(u.error().message.find("secret"), std::string::npos);
  }
}

TEST(DatabaseUrl, ErrorsNeverShowThePassword) {
  struct Case {
    const char* url;
    const char* message;
  };
  for (const Case& c : {
           Case{"SECRET_PW",
                "database URL: expected dialect[+driver]://..., e.g. "
                "mysql://user:***@host/nova"},
           Case{"oracle://u:SECRET_PW@h",
                "database URL: unknown dialect 'oracle' (expected "
                "mysql, mariadb, postgresql or sqlite)"},
           Case{"mysql://u:SECRET_PW@h:99999/nova",
                "database URL: port '99999' is not a number from 1 to 65535"},
           Case{"mysql://u:SECRET_PW@h:abc",
                "database URL: port 'abc' is not a number from 1 "
                "to 65535"},
           Case{"mysql://u:SECRET_PW@/nova", "database URL: no host given for mysql"},
           Case{"mysql+://u:SECRET_PW@h", "database URL: empty driver after 'mysql+'"},
           Case{"my sql://u:SECRET_PW@h",
                "database URL: dialect 'my sql' may hold only "
                "letters, digits, '_' and '+'"},
       }) {
    auto u = DatabaseUrl::parse(c.url);
    ASSERT_FALSE(u.ok()) << c.url;
    EXPECT_EQ(u.error().message, c.message);
    EXPECT_EQ(u.error().message.find("SECRET_PW"), std::string::npos);
  }
}

}  // namespace
}  // namespace gpucloud
