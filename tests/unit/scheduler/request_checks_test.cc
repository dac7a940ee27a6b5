// Host-independent checks nova makes before scheduling (compute API) or at spawn (libvirt):
// image min_ram/min_disk against the flavor, hw_video_ram against hw_video:ram_max_mb.
#include <gtest/gtest.h>

#include "scheduler_test_util.h"

namespace gpucloud::scheduler {
namespace {

using testing::request;

struct CheckRow {
  const char* what;
  std::map<std::string, std::string> extra_specs;
  int64_t ram_mb;
  int64_t disk_gb;
  ImageMeta image;
  bool ok;
  const char* error_part;
};

ImageMeta image(int64_t min_disk, int64_t min_ram, std::map<std::string, std::string> props = {}) {
  ImageMeta m;
  m.min_disk_gb = min_disk;
  m.min_ram_mb = min_ram;
  m.properties = std::move(props);
  return m;
}

TEST(CheckRequest, Table) {
  std::vector<CheckRow> rows = {
      {"the seed's image on m1.large",
       {{"hw_video:ram_max_mb", "64"}},
       8192,
       80,
       image(15, 512, {{"hw_video_ram", "8"}}),
       true,
       ""},
      {"FlavorMemoryTooSmall",
       {},
       256,
       80,
       image(15, 512),
       false,
       "256 MB RAM, less than the image's min_ram of 512 MB"},
      {"FlavorDiskSmallerThanMinDisk",
       {},
       1024,
       10,
       image(15, 512),
       false,
       "10 GB disk, smaller than the image's min_disk of 15 GB"},
      {"nova skips min_disk for a 0 GB flavor", {}, 1024, 0, image(15, 512), true, ""},
      {"RequestedVRamTooHigh",
       {{"hw_video:ram_max_mb", "4"}},
       1024,
       20,
       image(0, 0, {{"hw_video_ram", "8"}}),
       false,
       "8 MB of video RAM"},
      {"nova: no hw_video:ram_max_mb means 0, so any hw_video_ram fails",
       {},
       1024,
       20,
       image(0, 0, {{"hw_video_ram", "8"}}),
       false,
       "hw_video:ram_max_mb=0"},
      {"equal is fine",
       {{"hw_video:ram_max_mb", "8"}},
       1024,
       20,
       image(0, 0, {{"hw_video_ram", "8"}}),
       true,
       ""},
      {"hw_video_ram must be a number",
       {{"hw_video:ram_max_mb", "8"}},
       1024,
       20,
       image(0, 0, {{"hw_video_ram", "lots"}}),
       false,
       "hw_video_ram: 'lots'"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.what);
    auto req = request(row.extra_specs, {}, 1, row.ram_mb, row.disk_gb, row.image);
    Status st = check_request(req);
    EXPECT_EQ(st.ok(), row.ok);
    if (!row.ok && !st.ok()) {
      EXPECT_NE(st.error().message.find(row.error_part), std::string::npos) << st.error().message;
    }
  }
}

TEST(CheckRequest, SelectRefusesBeforeFilteringAndSaysWhy) {
  auto sched = Scheduler::create(SchedulerOptions{});
  ASSERT_TRUE(sched.ok());
  std::vector<HostState> hosts = {testing::host("h1")};
  auto sel = sched->select(hosts, request({}, {}, 1, 256, 20, image(0, 512)));
  EXPECT_FALSE(sel.ok());
  EXPECT_NE(sel.request_error.find("min_ram"), std::string::npos);
  EXPECT_TRUE(sel.selected().empty());
}

}  // namespace
}  // namespace gpucloud::scheduler
