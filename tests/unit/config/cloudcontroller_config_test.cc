#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"
#include "unit/config/test_util.h"

namespace gpucloud::config {
namespace {

using testing::data;
using ::testing::ElementsAre;
using testing::seed;

std::vector<std::string> ids(const CloudControllerConfig& cfg) {
  std::vector<std::string> out;
  for (const auto& id : cfg.gpu_pci_ids) out.push_back(id.value.str());
  return out;
}

TEST(CloudControllerConfig, SeedFileIsUnderstood) {
  IniFile f = testing::load(seed("cloudcontroller.ini"));
  ASSERT_TRUE(looks_like_cloudcontroller(f));
  CloudControllerConfig cfg = load_cloudcontroller_config(f);
  EXPECT_TRUE(cfg.problems.empty()) << testing::messages(cfg.problems).front();
  ASSERT_TRUE(cfg.gpu_query.has_value());
  EXPECT_EQ(cfg.gpu_query->value.redacted(), "mysql://cc:***@openstack_host");
  EXPECT_EQ(cfg.gpu_query->value.password(), "SECURE_PASSWORD");
  EXPECT_EQ(cfg.gpu_query->where.line, 3);
  EXPECT_THAT(ids(cfg), ElementsAre("0ff2", "11bf", "13f2"));
}

TEST(CloudControllerConfig, PasteDeployFileWithOtherSectionsAndContinuation) {
  CloudControllerConfig cfg =
      load_cloudcontroller_config(testing::load(data("cloudcontroller_full.ini")));
  EXPECT_TRUE(cfg.problems.empty());
  ASSERT_TRUE(cfg.gpu_query.has_value());
  EXPECT_EQ(cfg.gpu_query->value.redacted(),
            "mysql+pymysql://cc:***@db.example.org:3306/nova?charset=utf8");
  EXPECT_EQ(cfg.gpu_query->value.password(), "p@ss");
  EXPECT_THAT(ids(cfg), ElementsAre("0ff2", "11bf"));  // upper case normalised
}

TEST(CloudControllerConfig, EveryBadValueIsReportedWithoutThePassword) {
  std::string file = data("bad_cloudcontroller.ini");
  CloudControllerConfig cfg = load_cloudcontroller_config(testing::load(file));
  EXPECT_TRUE(cfg.has_errors());
  EXPECT_THAT(
      testing::messages(cfg.problems),
      ElementsAre(file + ":2: [app:main] openstack.gpu_query: database URL: port '99999' is not "
                         "a number from 1 to 65535",
                  file + ":3: [app:main] openstack.gpu_pci_ids: product id '11bfz' is not 4 hex "
                         "digits",
                  file + ":5: warning: [server:main] openstack.gpu_pci_ids: ignored: the Cloud "
                         "Controller reads its settings from [app:main]"));
  EXPECT_THAT(ids(cfg), ElementsAre("0ff2", "13f2"));
  for (const auto& p : cfg.problems) EXPECT_EQ(p.message.find("s3cret"), std::string::npos);
}

TEST(CloudControllerConfig, KeySetTwiceInTheAppSectionIsAnError) {
  CloudControllerConfig cfg = load_cloudcontroller_config(
      IniFile::parse("[app:main]\nopenstack.gpu_pci_ids = 11bf\nopenstack.gpu_pci_ids = 13f2\n"
                     "openstack.gpu_query = sqlite:////var/lib/nova.db\n",
                     "cc.ini"));
  EXPECT_THAT(testing::messages(cfg.problems),
              ElementsAre("cc.ini:3: [app:main] openstack.gpu_pci_ids: set more than once "
                          "(first at line 2)"));
}

TEST(CloudControllerConfig, MissingKeysAreWarningsAboutTheWholeFile) {
  CloudControllerConfig cfg =
      load_cloudcontroller_config(IniFile::parse("[app:main]\nuse = egg:x\n", "cc.ini"));
  EXPECT_FALSE(cfg.has_errors());
  EXPECT_THAT(testing::messages(cfg.problems),
              ElementsAre("cc.ini: warning: no openstack.gpu_query in [app:main]: the Cloud "
                          "Controller's GPU check is off",
                          "cc.ini: warning: no openstack.gpu_pci_ids in [app:main]: no GPU model "
                          "is checked"));
}

TEST(CloudControllerConfig, EmptyIdListIsAnError) {
  CloudControllerConfig cfg = load_cloudcontroller_config(IniFile::parse(
      "[app:main]\nopenstack.gpu_pci_ids =\nopenstack.gpu_query = sqlite://\n", "cc.ini"));
  EXPECT_THAT(testing::messages(cfg.problems),
              ElementsAre("cc.ini:2: [app:main] openstack.gpu_pci_ids: no product ids given"));
}

// The seed shows its two lines without a section, and a file holding only them is accepted, read
// as [app:main]'s, with a warning each. oslo's dialect (nova.conf) still refuses bare keys.
TEST(CloudControllerConfig, TheSeedsBareLinesAreReadAsAppMainWithAWarning) {
  auto f = IniFile::load(data("bare_cloudcontroller.ini"), IniDialect::kPasteDeploy);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(looks_like_cloudcontroller(*f));
  CloudControllerConfig cfg = load_cloudcontroller_config(*f);
  EXPECT_FALSE(cfg.has_errors());
  EXPECT_THAT(testing::messages(cfg.problems),
              ElementsAre(::testing::HasSubstr(":1: warning: openstack.gpu_query: outside any "
                                               "section: read as if under [app:main]"),
                          ::testing::HasSubstr(":2: warning: openstack.gpu_pci_ids: outside any "
                                               "section")));
  ASSERT_TRUE(cfg.gpu_query.has_value());
  EXPECT_EQ(cfg.gpu_query->value.redacted(), "mysql://cc:***@openstack_host");
  EXPECT_THAT(ids(cfg), ElementsAre("0ff2", "11bf", "13f2"));
  // A bare line and the same key under [app:main]: set twice, as ConfigParser would say.
  CloudControllerConfig twice = load_cloudcontroller_config(
      IniFile::parse("openstack.gpu_pci_ids = 11bf\n[app:main]\nopenstack.gpu_pci_ids = 13f2\n",
                     "cc.ini", IniDialect::kPasteDeploy));
  EXPECT_TRUE(twice.has_errors());
  // Keys after a broken section header are not taken for bare ones.
  IniFile broken = IniFile::parse("[app:main\nopenstack.gpu_pci_ids = 11bf\n", "cc.ini",
                                  IniDialect::kPasteDeploy);
  EXPECT_TRUE(broken.entries().empty());
  EXPECT_EQ(broken.problems().size(), 2u);
  IniFile oslo = IniFile::parse("host = a\n", "nova.conf");
  EXPECT_THAT(testing::messages(oslo.problems()),
              ElementsAre("nova.conf:1: 'host' is outside any [section]"));
}

TEST(CloudControllerConfig, NovaConfIsNotTakenForCloudControllerIni) {
  EXPECT_FALSE(looks_like_cloudcontroller(testing::load(seed("nova.conf"))));
  EXPECT_FALSE(looks_like_cloudcontroller(testing::load(seed("nova-compute.conf"))));
  EXPECT_TRUE(looks_like_cloudcontroller(IniFile::parse("[x]\nopenstack.gpu_query = a\n", "x")));
}

}  // namespace
}  // namespace gpucloud::config
