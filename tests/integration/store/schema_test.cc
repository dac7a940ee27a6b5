// Migrations: applied on open, idempotent, a newer schema refused, another application's
// database left alone, a failing migration leaves the previous schema.
#include "store/store_impl.h"
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

TEST_P(StoreTest, OpenMigratesAnEmptyDatabaseToTheLatestVersion) {
  auto info = store().schema_info();
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->current, Store::latest_schema_version());
  EXPECT_EQ(info->latest, Store::latest_schema_version());
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM schema_version"),
            static_cast<long long>(migrations().size()));
}

TEST_P(StoreTest, ReopeningAMigratedDatabaseChangesNothing) {
  ASSERT_TRUE(
      store().create_project({"p1", "demo", "default", "", true, {}, std::nullopt, {}}).ok());
  store_.reset();
  auto again = open_store(db().url());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM schema_version"),
            static_cast<long long>(migrations().size()));
  EXPECT_TRUE((*again)->get_project("p1").ok());
}

// Versions are numbered on branches: a database may hold a higher version without a lower one
// that arrived later (8 applied, then a binary with 7 too). That version is applied on open.
TEST_P(StoreTest, VersionMissingBelowTheHighestIsAppliedOnOpen) {
  store_.reset();
  db().exec("DROP TABLE instance_system_metadata");
  db().exec("DELETE FROM schema_version WHERE version = 6");
  auto again = open_store(db().url());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM schema_version WHERE version = 6"), 1);
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM instance_system_metadata"), 0);
  auto info = (*again)->schema_info();
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->current, Store::latest_schema_version());
}

TEST_P(StoreTest, NewerSchemaIsRefusedWithAClearMessage) {
  store_.reset();
  db().exec(
      "INSERT INTO schema_version (version, description, applied_at) "
      "VALUES (999, 'from the future', 'x')");
  auto s = open_store(db().url());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("schema version 999 is newer"), std::string::npos)
      << s.error().message;
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM schema_version WHERE version = 999"), 1);
}

TEST_P(StoreTest, OldSchemaWithoutMigrateAsksForDbUpgradeAndCreatesNothing) {
  TestDb empty(GetParam());
  OpenOptions o;
  o.migrate = false;
  auto s = open_store(empty.url(), o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("gpucloud db upgrade"), std::string::npos) << s.error().message;
  o.allow_old_schema = true;
  auto v = open_store(empty.url(), o);
  ASSERT_TRUE(v.ok()) << v.error().message;
  auto info = (*v)->schema_info();
  ASSERT_FALSE(info.ok());  // no schema_version table: nothing was created
}

TEST_P(StoreTest, DatabaseOfAnotherApplicationIsRefusedAndUntouched) {
  TestDb other(GetParam());
  other.exec("CREATE TABLE wiki_pages (id INTEGER PRIMARY KEY, body VARCHAR(100))");
  other.exec("INSERT INTO wiki_pages (id, body) VALUES (1, 'hello')");
  auto s = open_store(other.url());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message.find("another application (wiki_pages)"), std::string::npos)
      << s.error().message;
  EXPECT_EQ(other.count("SELECT COUNT(*) FROM wiki_pages WHERE body = 'hello'"), 1);
  // No table of ours appeared.
  EXPECT_THROW(other.count("SELECT COUNT(*) FROM schema_version"), std::exception);
}

TEST_P(StoreTest, FailingMigrationLeavesThePreviousSchemaAndDataIntact) {
  ASSERT_TRUE(
      store().create_project({"p1", "demo", "default", "", true, {}, std::nullopt, {}}).ok());
  Store::Impl impl;
  impl.target = *DatabaseTarget::parse(db().url());
  impl.dialect = GetParam() == Kind::kSqlite
                     ? Dialect{Backend::kSqlite, "BEGIN IMMEDIATE", "BEGIN"}
                     : Dialect{Backend::kMysql, "START TRANSACTION", "START TRANSACTION"};
  auto list = migrations();
  const int next = Store::latest_schema_version() + 1;
  Migration bad{next, "broken on purpose", {}, {}, {}};
  bad.sqlite = {"CREATE TABLE IF NOT EXISTS half_done (x INTEGER)",
                "ALTER TABLE projects ADD COLUMN extra INTEGER", "THIS IS NOT SQL"};
  bad.mysql = {"CREATE TABLE IF NOT EXISTS half_done (x INTEGER)", "THIS IS NOT SQL"};
  bad.undo_mysql = {"DROP TABLE IF EXISTS half_done"};
  list.push_back(bad);
  Status s = impl.apply_migrations(list);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("the schema stays at version " + std::to_string(next - 1)),
            std::string::npos)
      << s.error().message;
  EXPECT_EQ(db().count("SELECT MAX(version) FROM schema_version"), next - 1);
  EXPECT_THROW(db().count("SELECT COUNT(*) FROM half_done"), std::exception);
  EXPECT_THROW(db().count("SELECT COUNT(extra) FROM projects"), std::exception);
  // The store still works on the old schema.
  store_.reset();
  auto again = open_store(db().url());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE((*again)->get_project("p1").ok());
}

}  // namespace
}  // namespace gpucloud::store::testing
