// The spawn task's payload (server to agent): what the guest's config drive needs of the
// instance's system metadata travels, and nothing else of it.
#include <gtest/gtest.h>

#include "compute/compute.h"

namespace gpucloud::compute {
namespace {

TEST(SpawnPayload, CarriesKeyDataAndHostnameOnly) {
  store::Instance i;
  i.uuid = "6f0e2c3a-1b7d-4c1e-9a55-0123456789ab";
  i.host = "gpu-1";
  i.key_name = "mykey";
  i.system_metadata = {{"key_data", "ssh-ed25519 AAAAC3Nz me@laptop"},
                       {"hostname", "trainer-7"},
                       {"locked_by", "admin"},
                       {"requested_host", "gpu-1"}};
  store::Flavor f;
  f.id = "1";
  f.vcpus = 1;
  f.memory_mb = 512;
  auto args = parse_spawn_payload(spawn_payload(i, f, store::Image{}, {}));
  ASSERT_TRUE(args.ok()) << args.error().message;
  EXPECT_EQ(args->instance.key_name, "mykey");
  const std::map<std::string, std::string> want = {{"key_data", "ssh-ed25519 AAAAC3Nz me@laptop"},
                                                   {"hostname", "trainer-7"}};
  EXPECT_EQ(args->instance.system_metadata, want);
}

// A payload written before system metadata travelled (an older server) still parses.
TEST(SpawnPayload, WithoutSystemMetadata) {
  auto args = parse_spawn_payload(
      R"({"instance": {"uuid": "u", "host": "h"}, "flavor": {"id": "1", "vcpus": 1,
          "memory_mb": 64}, "image": {"id": "i"}})");
  ASSERT_TRUE(args.ok()) << args.error().message;
  EXPECT_TRUE(args->instance.system_metadata.empty());
}

}  // namespace
}  // namespace gpucloud::compute
