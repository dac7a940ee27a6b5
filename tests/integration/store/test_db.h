// Fresh databases for store tests: a SQLite file in a temporary directory, or a new database on
// the MariaDB server that tests/integration/mariadb.sh started (URL in $GPUCLOUD_MARIADB_URL_FILE).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/store.h"

namespace gpucloud::store::testing {

enum class Kind { kSqlite, kMariadb };

// The server URL without a database, or "" when no MariaDB was started for this run.
std::string mariadb_server_url();

// One fresh, empty database; dropped (MariaDB) or deleted (SQLite) on destruction.
class TestDb {
 public:
  explicit TestDb(Kind kind);
  ~TestDb();
  const std::string& url() const { return url_; }
  Kind kind() const { return kind_; }
  // Runs SQL outside the store, as another application (or nova) would.
  void exec(const std::string& sql) const;
  long long count(const std::string& sql) const;  // SELECT COUNT(*) ...

 private:
  Kind kind_;
  std::string url_, dir_, name_;
};

// Base for tests that run on both backends: TEST_P(StoreTest, ...) gets db() and store().
class StoreTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override;
  TestDb& db() { return *db_; }
  Store& store() { return *store_; }
  // A host with plenty of resources and `gpus` K2 GPUs (10de:11bf) at 0000:8N:00.0.
  ComputeHost add_gpu_host(const std::string& name, int gpus, int numa_nodes = 1);

  std::unique_ptr<TestDb> db_;
  std::unique_ptr<Store> store_;
};

std::string kind_name(const ::testing::TestParamInfo<Kind>& info);

}  // namespace gpucloud::store::testing
