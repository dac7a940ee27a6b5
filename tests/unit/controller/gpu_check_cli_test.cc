// `gpucloud gpu-check` as a process: exit 0/1/2, text and JSON, on nova's schema and on
// gpucloud's own SQLite database, and errors that never show the password.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "controller/controller.h"
#include "controller_test_util.h"

namespace gpucloud::controller {
namespace {

struct Proc {
  int code = -1;
  std::string output;  // stdout and stderr
};

Proc gpucloud(const std::string& args) {
  Proc r;
  FILE* p = ::popen((std::string(GPUCLOUD_BINARY) + " " + args + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class GpuCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir();
    ini_ = dir_ + "/cloudcontroller.ini";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void use(const std::string& url) { testing::write_file(ini_, testing::cloudcontroller_ini(url)); }
  Proc check(const std::string& args) {
    return gpucloud("gpu-check --config " + ini_ + " " + args);
  }
  std::string dir_, ini_;
};

TEST_F(GpuCheck, NovaSchemaEnoughAndNotEnough) {
  const std::string db = testing::nova_sqlite(dir_);
  ASSERT_FALSE(db.empty());
  use("sqlite:///" + db);
  Proc three = check("--product-id 11bf --count 3");
  EXPECT_EQ(three.code, 0) << three.output;
  EXPECT_NE(three.output.find("11bf"), std::string::npos) << three.output;
  Proc four = check("--product-id 11BF --count 4");
  EXPECT_EQ(four.code, 1) << four.output;
  Proc any = check("--count 3");  // some configured model has 3 free
  EXPECT_EQ(any.code, 0) << any.output;
  Proc m60 = check("--alias M60 --nova-config " + GPUCLOUD_TEST_DATA + "/controller/nova.conf");
  EXPECT_EQ(m60.code, 1) << m60.output;
}

// gpu-check takes a cloudcontroller.ini that holds only the seed's bare lines.
TEST_F(GpuCheck, BareSeedLinesWithoutASection) {
  const std::string db = testing::nova_sqlite(dir_);
  ASSERT_FALSE(db.empty());
  testing::write_file(
      ini_, "openstack.gpu_query = sqlite:///" + db + "\nopenstack.gpu_pci_ids = 0ff2 11bf 13f2\n");
  Proc three = check("--product-id 11bf --count 3");
  EXPECT_EQ(three.code, 0) << three.output;
  Proc four = check("--product-id 11bf --count 4");
  EXPECT_EQ(four.code, 1) << four.output;
}

TEST_F(GpuCheck, JsonOutput) {
  const std::string db = testing::nova_sqlite(dir_);
  use("sqlite:///" + db);
  Proc r = gpucloud("gpu-check --format json --count 2 --alias K2_Grid --config " + ini_ +
                    " --nova-config " + GPUCLOUD_TEST_DATA + "/controller/nova.conf");
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.output;
  EXPECT_EQ(j["enough"], true);
  ASSERT_EQ(j["products"].size(), 1u);
  EXPECT_EQ(j["products"][0]["product_id"], "11bf");
  EXPECT_EQ(j["products"][0]["free"], 3);
  EXPECT_EQ(j["products"][0]["in_use"], 2);
  EXPECT_EQ(j["products"][0]["compute_nodes"].size(), 2u);
}

TEST_F(GpuCheck, GpucloudsOwnDatabase) {
  const std::string url = "sqlite:///" + dir_ + "/gpucloud.sqlite";
  {
    auto s = store::open_store(url);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store::ComputeHost h;
    h.name = "gpu1";
    h.vcpus = 8;
    h.memory_mb = 16384;
    h.disk_gb = 100;
    ASSERT_TRUE((*s)->upsert_compute_host(h).ok());
    std::vector<PciDevice> seen;
    for (const char* a : {"0000:04:00.0", "0000:05:00.0"}) {
      PciDevice d;
      d.address = *PciAddress::parse(a);
      d.vendor_id = *HexId::parse("10de");
      d.product_id = *HexId::parse("13f2");
      seen.push_back(d);
    }
    ASSERT_TRUE((*s)->sync_pci_devices("gpu1", seen).ok());
    auto devs = (*s)->list_pci_devices({});
    ASSERT_TRUE(devs.ok());
    ASSERT_EQ(devs->size(), 2u);
    ASSERT_TRUE((*s)->set_pci_device_available(devs->front().id, false).ok());
  }
  use(url);
  Proc one = check("--product-id 13f2 --count 1 --format json");
  ASSERT_EQ(one.code, 0) << one.output;
  auto j = nlohmann::json::parse(one.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << one.output;
  EXPECT_EQ(j["products"][0]["free"], 1);
  EXPECT_EQ(j["products"][0]["unavailable"], 1);
  EXPECT_EQ(check("--product-id 13f2 --count 2").code, 1);
}

TEST_F(GpuCheck, ErrorsExitTwoWithoutThePassword) {
  use("mysql://cc:SECURE_PASSWORD@127.0.0.1:1/nova");
  Proc down = check("");
  EXPECT_EQ(down.code, 2) << down.output;
  EXPECT_EQ(down.output.find("SECURE_PASSWORD"), std::string::npos) << down.output;
  EXPECT_NE(down.output.find("***"), std::string::npos) << down.output;

  testing::write_file(dir_ + "/empty.sqlite", "");
  use("sqlite:///" + dir_ + "/empty.sqlite");
  Proc table = check("");
  EXPECT_EQ(table.code, 2) << table.output;
  EXPECT_NE(table.output.find("pci_devices"), std::string::npos) << table.output;

  use("postgresql://cc:SECURE_PASSWORD@db/nova");
  Proc dialect = check("");
  EXPECT_EQ(dialect.code, 2) << dialect.output;
  EXPECT_EQ(dialect.output.find("SECURE_PASSWORD"), std::string::npos) << dialect.output;

  use("not a url");
  Proc bad = check("");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find(ini_ + ":3"), std::string::npos) << bad.output;

  Proc alias = check("--alias K2_Grid");  // no nova.conf to resolve it
  EXPECT_EQ(alias.code, 2) << alias.output;
}

TEST(QuotaCli, SetShowDelete) {
  const std::string dir = testing::temp_dir();
  const std::string url = "sqlite:///" + dir + "/gpucloud.sqlite";
  {
    auto s = store::open_store(url);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store::Project p;
    p.id = "0123456789abcdef0123456789abcdef";
    p.name = "demo";
    ASSERT_TRUE((*s)->create_project(p).ok());
  }
  const std::string db = " --database " + url;
  Proc set = gpucloud("quota set" + db + " --project demo --alias K2_Grid --limit 2");
  EXPECT_EQ(set.code, 0) << set.output;
  Proc show = gpucloud("quota show" + db);
  EXPECT_EQ(show.code, 0) << show.output;
  EXPECT_NE(show.output.find("0123456789abcdef0123456789abcdef"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("K2_Grid"), std::string::npos) << show.output;
  {
    auto s = store::open_store(url);
    ASSERT_TRUE(s.ok());
    auto q = (*s)->list_gpu_quotas("0123456789abcdef0123456789abcdef");
    ASSERT_TRUE(q.ok());
    ASSERT_EQ(q->size(), 1u);
    EXPECT_EQ(q->front().limit, 2);
  }
  EXPECT_EQ(gpucloud("quota set" + db + " --project nosuch --alias K2_Grid --limit 1").code, 1);
  Proc del =
      gpucloud("quota delete" + db + " --project 0123456789abcdef0123456789abcdef --alias K2_Grid");
  EXPECT_EQ(del.code, 0) << del.output;
  EXPECT_EQ(gpucloud("quota delete" + db + " --project demo --alias K2_Grid").code, 1);
  Proc empty = gpucloud("quota show" + db + " --project demo");
  EXPECT_EQ(empty.output.find("K2_Grid"), std::string::npos) << empty.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gpucloud::controller
