#include "test_db.h"

#include <soci/mysql/soci-mysql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace gpucloud::store::testing {
namespace {

std::unique_ptr<soci::session> raw_session(const std::string& url) {
  auto t = DatabaseUrl::parse(url);
  if (!t) throw std::runtime_error(t.error().message);
  if (t->is_sqlite()) {
    return std::make_unique<soci::session>(*soci::factory_sqlite3(), "db=" + t->database());
  }
  std::string cs = "host=" + t->host() + " port=" + std::to_string(t->port().value_or(3306)) +
                   " user=" + t->user() + " password=" + t->password();
  if (!t->database().empty()) cs += " db=" + t->database();
  return std::make_unique<soci::session>(*soci::factory_mysql(), cs);
}

std::string random_suffix() {
  static std::mt19937_64 rng(std::random_device{}());
  char buf[20];
  std::snprintf(buf, sizeof buf, "%012llx",
                static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
  return buf;
}

}  // namespace

std::string mariadb_server_url() {
  const char* file = std::getenv("GPUCLOUD_MARIADB_URL_FILE");
  if (!file) return "";
  std::ifstream in(file);
  std::string url;
  std::getline(in, url);
  return url;
}

TestDb::TestDb(Kind kind) : kind_(kind) {
  if (kind == Kind::kSqlite) {
    dir_ =
        (std::filesystem::temp_directory_path() / ("gpucloud-store-" + random_suffix())).string();
    std::filesystem::create_directories(dir_);
    url_ = "sqlite:///" + dir_ + "/store.db";  // dir_ is absolute: sqlite:////tmp/...
    return;
  }
  const std::string server = mariadb_server_url();
  name_ = "gc_" + random_suffix();
  auto s = raw_session(server);
  *s << "CREATE DATABASE " + name_;
  url_ = server + name_;
}

TestDb::~TestDb() {
  try {
    if (kind_ == Kind::kSqlite) {
      std::filesystem::permissions(dir_ + "/store.db", std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add);
      std::filesystem::remove_all(dir_);
    } else {
      auto s = raw_session(mariadb_server_url());
      *s << "DROP DATABASE IF EXISTS " + name_;
    }
  } catch (const std::exception&) {
  }
}

void TestDb::exec(const std::string& sql) const { *raw_session(url_) << sql; }

long long TestDb::count(const std::string& sql) const {
  long long n = 0;
  *raw_session(url_) << sql, soci::into(n);
  return n;
}

void StoreTest::SetUp() {
  if (GetParam() == Kind::kMariadb && mariadb_server_url().empty()) {
    GTEST_SKIP() << "no MariaDB for this run (run through ctest: fixture mariadb)";
  }
  db_ = std::make_unique<TestDb>(GetParam());
  auto s = open_store(db_->url());
  ASSERT_TRUE(s.ok()) << s.error().message;
  store_ = std::move(*s);
}

ComputeHost StoreTest::add_gpu_host(const std::string& name, int gpus, int numa_nodes) {
  ComputeHost h;
  h.name = name;
  h.vcpus = 64;
  h.memory_mb = 256 * 1024;
  h.disk_gb = 2000;
  auto r = store().upsert_compute_host(h);
  EXPECT_TRUE(r.ok()) << r.error().message;
  std::vector<PciDevice> devs;
  for (int i = 0; i < gpus; ++i) {
    PciDevice d;
    char addr[32];
    std::snprintf(addr, sizeof addr, "0000:%02x:00.0", 0x40 + i);
    d.address = *PciAddress::parse(addr);
    d.vendor_id = *HexId::parse("10de");
    d.product_id = *HexId::parse("11bf");
    d.numa_node = i % numa_nodes;
    devs.push_back(d);
  }
  Status s = store().sync_pci_devices(name, devs);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return r.ok() ? *r : h;
}

std::string kind_name(const ::testing::TestParamInfo<Kind>& info) {
  return info.param == Kind::kSqlite ? "Sqlite" : "Mariadb";
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreTest, ::testing::Values(Kind::kSqlite), kind_name);
INSTANTIATE_TEST_SUITE_P(Mariadb, StoreTest, ::testing::Values(Kind::kMariadb), kind_name);

}  // namespace gpucloud::store::testing
