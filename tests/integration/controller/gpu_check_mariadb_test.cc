// gpu-check and the admission report on MariaDB with nova's pci_devices schema, read by a user
// that has nothing but `GRANT SELECT ON ctl_nova.pci_devices` (the seed's setup).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "controller/controller.h"

namespace gpucloud::controller {
namespace {

struct Proc {
  int code = -1;
  std::string output;
};

Proc shell(const std::string& cmd) {
  Proc r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class Mariadb : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* file = std::getenv("GPUCLOUD_MARIADB_URL_FILE");
    if (!file) return;
    std::ifstream in(file);
    std::string text;
    std::getline(in, text);
    auto url = DatabaseUrl::parse(text);
    if (!url.ok()) return;
    port_ = url->port().value_or(3306);
    root_ = "mariadb --no-defaults -uroot --socket=" +
            (std::filesystem::path(file).parent_path() / "mariadbd.sock").string();
    const std::string sql =
        "DROP DATABASE IF EXISTS ctl_nova; CREATE DATABASE ctl_nova; "
        "DROP DATABASE IF EXISTS ctl_empty; CREATE DATABASE ctl_empty; "
        "CREATE TABLE ctl_empty.other (id INT); "
        "CREATE USER IF NOT EXISTS 'cc'@'127.0.0.1' IDENTIFIED BY 'SECURE_PASSWORD'; "
        "GRANT SELECT ON ctl_empty.* TO 'cc'@'127.0.0.1'; ";
    Proc made = shell(root_ + " -e \"" + sql + "\"");
    Proc loaded =
        shell(root_ + " ctl_nova < " + GPUCLOUD_TEST_DATA + "/controller/nova_pci_devices.sql");
    Proc granted =
        shell(root_ + " -e \"GRANT SELECT ON ctl_nova.pci_devices TO 'cc'@'127.0.0.1'\"");
    ready_ = made.code == 0 && loaded.code == 0 && granted.code == 0;
    if (!ready_)
      std::fprintf(stderr, "%s%s%s", made.output.c_str(), loaded.output.c_str(),
                   granted.output.c_str());
  }
  void SetUp() override {
    if (root_.empty()) GTEST_SKIP() << "GPUCLOUD_MARIADB_URL_FILE not set (ctest fixture mariadb)";
    ASSERT_TRUE(ready_);
    dir_ = std::filesystem::temp_directory_path() / ("gpucloud-ctl-it-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string url(const std::string& password, const std::string& db) const {
    return "mysql://cc:" + password + "@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }
  Proc check(const std::string& gpu_query, const std::string& args) {
    const std::string ini = dir_ + "/cloudcontroller.ini";
    std::ofstream(ini) << "[app:main]\nopenstack.gpu_query = " << gpu_query
                       << "\nopenstack.gpu_pci_ids = 0ff2 11bf 13f2\n";
    return shell(std::string(GPUCLOUD_BINARY) + " gpu-check --config " + ini + " " + args);
  }

  static inline std::string root_;
  static inline int port_ = 0;
  static inline bool ready_ = false;
  std::string dir_;
};

TEST_F(Mariadb, ReadOnlyUserCountsNovaRows) {
  auto u = DatabaseUrl::parse(url("SECURE_PASSWORD", "ctl_nova"));
  ASSERT_TRUE(u.ok());
  auto r =
      read_gpu_report(*u, {*HexId::parse("0ff2"), *HexId::parse("11bf"), *HexId::parse("13f2")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto* k2 = r->find(*HexId::parse("11bf"));
  ASSERT_NE(k2, nullptr);
  EXPECT_EQ(k2->count.free, 3);
  EXPECT_EQ(k2->count.in_use, 2);
  EXPECT_EQ(k2->count.unavailable, 1);
  EXPECT_EQ(k2->by_compute_node.size(), 2u);
  EXPECT_EQ(r->find(*HexId::parse("13f2"))->count.free, 0);
  EXPECT_EQ(r->find(*HexId::parse("13f2"))->count.in_use, 2);
}

// The server's reader keeps its connection; when the database drops it, the next read connects
// again, and counts follow the table.
TEST_F(Mariadb, KeptReaderSurvivesADroppedConnection) {
  auto u = DatabaseUrl::parse(url("SECURE_PASSWORD", "ctl_nova"));
  ASSERT_TRUE(u.ok());
  const std::vector<ProductId> k2 = {*HexId::parse("11bf")};
  auto reader = GpuReader::open(*u);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  auto before = (*reader)->read(k2);
  ASSERT_TRUE(before.ok()) << before.error().message;
  EXPECT_EQ(before->find(k2[0])->count.free, 3);
  Proc killed = shell(root_ + " -e \"KILL CONNECTION USER 'cc'@'127.0.0.1'\"");
  ASSERT_EQ(killed.code, 0) << killed.output;
  auto after = (*reader)->read(k2);
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->find(k2[0])->count.free, 3);
  EXPECT_EQ(after->find(k2[0])->count.in_use, 2);
}

TEST_F(Mariadb, CliExitCodes) {
  const std::string q = url("SECURE_PASSWORD", "ctl_nova");
  Proc ok = check(q, "--product-id 11bf --count 3 --format json");
  ASSERT_EQ(ok.code, 0) << ok.output;
  auto j = nlohmann::json::parse(ok.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << ok.output;
  EXPECT_EQ(j["products"][0]["free"], 3);
  EXPECT_EQ(j["source"].get<std::string>().find("SECURE_PASSWORD"), std::string::npos);
  EXPECT_EQ(check(q, "--product-id 11bf --count 4").code, 1);
  EXPECT_EQ(check(q, "--product-id 13f2").code, 1);
}

TEST_F(Mariadb, DeniedAndMissingTableAreClearErrors) {
  Proc denied = check(url("WRONG_SECRET", "ctl_nova"), "");
  EXPECT_EQ(denied.code, 2) << denied.output;
  EXPECT_EQ(denied.output.find("WRONG_SECRET"), std::string::npos) << denied.output;
  EXPECT_NE(denied.output.find("***"), std::string::npos) << denied.output;
  EXPECT_NE(denied.output.find("denied"), std::string::npos) << denied.output;

  Proc missing = check(url("SECURE_PASSWORD", "ctl_empty"), "");
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("pci_devices"), std::string::npos) << missing.output;
  EXPECT_EQ(missing.output.find("SECURE_PASSWORD"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace gpucloud::controller
