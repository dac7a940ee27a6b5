// `gpucloud db version` and `gpucloud db upgrade` run as a user runs them.
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

struct CliRun {
  int rc = -1;
  std::string out;  // stdout and stderr
};

CliRun gpucloud(const std::string& args) {
  CliRun r;
  FILE* p = popen((std::string(GPUCLOUD_BINARY) + " " + args + " 2>&1").c_str(), "r");
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) r.out += buf.data();
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST_P(StoreTest, DbCommandsShowAndUpgradeTheSchemaVersion) {
  TestDb fresh(GetParam());
  const std::string latest = std::to_string(Store::latest_schema_version());
  if (GetParam() == Kind::kSqlite) {
    CliRun none = gpucloud("db version --database '" + fresh.url() + "'");
    EXPECT_EQ(none.rc, 1);
    EXPECT_NE(none.out.find("no database file at"), std::string::npos) << none.out;
  }
  CliRun up = gpucloud("db upgrade --database '" + fresh.url() + "'");
  EXPECT_EQ(up.rc, 0) << up.out;
  EXPECT_NE(up.out.find("upgraded from version 0 to " + latest), std::string::npos) << up.out;
  CliRun again = gpucloud("db upgrade --database '" + fresh.url() + "'");
  EXPECT_NE(again.out.find("already up to date"), std::string::npos) << again.out;
  CliRun v = gpucloud("db version --database '" + fresh.url() + "'");
  EXPECT_EQ(v.rc, 0);
  EXPECT_NE(v.out.find("schema version " + latest), std::string::npos) << v.out;
}

// Issue 13: the file held password and token hashes and was created 0644.
TEST(CliDbSqlite, DbUpgradeCreatesDatabaseFileOwnerOnly) {
  TestDb fresh(Kind::kSqlite);
  CliRun up = gpucloud("db upgrade --database '" + fresh.url() + "'");
  ASSERT_EQ(up.rc, 0) << up.out;
  const std::string path = fresh.url().substr(std::string("sqlite://").size());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_P(StoreTest, DbCommandsRefuseAnotherApplicationsDatabase) {
  TestDb other(GetParam());
  other.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY)");
  CliRun up = gpucloud("db upgrade --database '" + other.url() + "'");
  EXPECT_EQ(up.rc, 1);
  EXPECT_NE(up.out.find("another application"), std::string::npos) << up.out;
  EXPECT_THROW(other.count("SELECT COUNT(*) FROM schema_version"), std::exception);
}

TEST(BadInputCli, WrongPasswordShowsStarsAndExitsOne) {
  const std::string server = mariadb_server_url();
  if (server.empty()) GTEST_SKIP() << "no MariaDB for this run";
  const size_t at = server.find('@');
  const size_t colon = server.rfind(':', at);
  const std::string wrong = server.substr(0, colon + 1) + "pw-wrong-123" + server.substr(at);
  CliRun r = gpucloud("db version --database '" + wrong + "gpucloud'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("Access denied"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(":***@"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("pw-wrong-123"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace gpucloud::store::testing
