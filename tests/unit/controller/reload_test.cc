// Settings validation and reload: a valid file replaces the running configuration, an invalid one
// is refused with file:line and the old one stays, also while readers are busy.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "controller/controller.h"
#include "controller_test_util.h"

namespace gpucloud::controller {
namespace {

class Reload : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir();
    ini_ = dir_ + "/cloudcontroller.ini";
    nova_ = dir_ + "/nova.conf";
    testing::write_file(ini_, testing::cloudcontroller_ini("sqlite:///" + dir_ + "/x.sqlite",
                                                           "gpucloud.readiness_interval = 1\n"));
    testing::write_file(nova_, "[pci]\nalias = {\"product_id\":\"11bf\", \"name\":\"K2_Grid\"}\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, ini_, nova_;
};

TEST_F(Reload, ReadsReadinessOptions) {
  testing::write_file(ini_, testing::cloudcontroller_ini("sqlite:///x.sqlite",
                                                         "gpucloud.readiness_interval = 0.5\n"
                                                         "gpucloud.readiness_max_interval = 8\n"
                                                         "gpucloud.readiness_timeout = 60\n"
                                                         "gpucloud.readiness_verify_tls = true\n"
                                                         "gpucloud.readiness_ssh_port = 2222\n"));
  auto s = load_settings({ini_, {}, ""});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ((*s)->readiness.interval, std::chrono::milliseconds(500));
  EXPECT_EQ((*s)->readiness.max_interval, std::chrono::milliseconds(8000));
  EXPECT_EQ((*s)->readiness.give_up, std::chrono::seconds(60));
  EXPECT_TRUE((*s)->readiness.verify_tls);
  EXPECT_EQ((*s)->readiness.ssh_port, 2222);
}

TEST_F(Reload, InvalidValueIsRefusedWithFileAndLine) {
  testing::write_file(ini_, testing::cloudcontroller_ini("sqlite:///x.sqlite",
                                                         "gpucloud.readiness_ssh_port = many\n"));
  auto s = load_settings({ini_, {}, ""});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(ini_ + ":5"), std::string::npos) << s.error().message;
}

TEST_F(Reload, ValidReplacesInvalidKeepsOld) {
  auto c = Controller::create({ini_, {nova_}, ""});
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto first = (*c)->settings();
  int listened = 0;
  (*c)->on_reload([&](const std::shared_ptr<const Settings>&) { ++listened; });

  testing::write_file(nova_, "[pci]\nalias = {\"product_id\":\"13f2\", \"name\":\"M60\"}\n");
  ASSERT_TRUE((*c)->reload().ok());
  EXPECT_TRUE((*c)->settings()->nova->aliases.contains("M60"));
  EXPECT_EQ(listened, 1);
  EXPECT_TRUE(first->nova->aliases.contains("K2_Grid"));  // a holder keeps what it had

  testing::write_file(nova_, "[pci]\nalias = {\"product_id\":\"nothex\", \"name\":\"Bad\"}\n");
  Status bad = (*c)->reload();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find(nova_ + ":2"), std::string::npos) << bad.error().message;
  EXPECT_TRUE((*c)->settings()->nova->aliases.contains("M60"));
  EXPECT_EQ(listened, 1);
  EXPECT_EQ((*c)->reload_count(), 1);
}

TEST_F(Reload, TouchFileTriggersReload) {
  const std::string touch = dir_ + "/cloudcontroller.wsgi";
  testing::write_file(touch, "");
  auto c = Controller::create({ini_, {nova_}, touch});
  ASSERT_TRUE(c.ok());
  (*c)->start_watching(std::chrono::milliseconds(20));
  testing::write_file(nova_, "[pci]\nalias = {\"product_id\":\"13f2\", \"name\":\"M60\"}\n");
  // Wait (bounded) for the watcher to notice: a change of any watched file reloads.
  for (int k = 0; k < 500 && (*c)->reload_count() == 0; ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ((*c)->reload_count(), 1);
  EXPECT_TRUE((*c)->settings()->nova->aliases.contains("M60"));
  const int before = (*c)->reload_count();
  std::filesystem::last_write_time(
      touch, std::filesystem::file_time_type::clock::now() + std::chrono::seconds(5));
  for (int k = 0; k < 500 && (*c)->reload_count() == before; ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ((*c)->reload_count(), before + 1);
  (*c)->stop_watching();
}

TEST_F(Reload, ReadersNeverSeeAHalfConfiguration) {
  auto c = Controller::create({ini_, {nova_}, ""});
  ASSERT_TRUE(c.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, broken{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        auto s = (*c)->settings();
        const auto& a = s->nova->aliases;
        // Every version of the file has exactly one alias, either K2_Grid or M60.
        if (a.names().size() != 1 || !(a.contains("K2_Grid") || a.contains("M60"))) ++broken;
        ++reads;
      }
    });
  }
  int refused = 0;
  for (int k = 0; k < 40; ++k) {
    const char* alias = k % 3 == 2 ? "{\"product_id\":\"zz\", \"name\":\"Bad\"}"
                        : k % 2    ? "{\"product_id\":\"13f2\", \"name\":\"M60\"}"
                                   : "{\"product_id\":\"11bf\", \"name\":\"K2_Grid\"}";
    testing::write_file(nova_, std::string("[pci]\nalias = ") + alias + "\n");
    if (!(*c)->reload().ok()) ++refused;
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(broken.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(refused, 13);
  EXPECT_EQ((*c)->reload_count(), 27);
}

}  // namespace
}  // namespace gpucloud::controller
