// Round trips of every record type through the store, on both backends.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

TEST_P(StoreTest, IdentityRecordsRoundTrip) {
  ASSERT_TRUE(store()
                  .create_project({"p1", "demo", "default", "the demo", true, {}, std::nullopt, {}})
                  .ok());
  auto dup = store().create_project({"p2", "demo", "default", "", true, {}, std::nullopt, {}});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  User u;
  u.id = "u1";
  u.name = "alice";
  u.password_hash = "$argon2id$v=19$...";
  u.default_project_id = "p1";
  ASSERT_TRUE(store().create_user(u).ok());
  EXPECT_EQ(store().find_user_by_name("alice", "default")->default_project_id, "p1");
  EXPECT_EQ(store().find_project_by_name("demo", "default")->description, "the demo");
  ASSERT_TRUE(store().assign_role({"u1", "p1", "member"}).ok());
  ASSERT_TRUE(store().assign_role({"u1", "p1", "member"}).ok());  // idempotent
  ASSERT_EQ(store().list_role_assignments("u1", "")->size(), 1u);

  Token t;
  t.token_hash = "abc123";
  t.user_id = "u1";
  t.project_id = "p1";
  t.roles = {"member", "reader"};
  t.expires_at = std::chrono::system_clock::now() + std::chrono::hours(1);
  ASSERT_TRUE(store().store_token(t).ok());
  auto got = store().get_token("abc123");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->roles, t.roles);
  EXPECT_FALSE(got->revoked);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(got->expires_at.time_since_epoch()),
            std::chrono::duration_cast<std::chrono::seconds>(t.expires_at.time_since_epoch()));
  ASSERT_TRUE(store().revoke_token("abc123").ok());
  EXPECT_TRUE(store().get_token("abc123")->revoked);
  EXPECT_EQ(*store().delete_expired_tokens(t.expires_at + std::chrono::seconds(1)), 1);
  EXPECT_EQ(store().get_token("abc123").error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(store().create_keypair({"u1", "key1", "ssh-ed25519 AAAA", "aa:bb", "ssh", {}}).ok());
  EXPECT_EQ(store().get_keypair("u1", "key1")->public_key, "ssh-ed25519 AAAA");
  ASSERT_TRUE(store().delete_user("u1").ok());
  EXPECT_TRUE(store().list_role_assignments("u1", "")->empty());
  EXPECT_TRUE(store().list_keypairs("u1")->empty());
}

TEST_P(StoreTest, FlavorsWithExtraSpecsAndAccessRoundTrip) {
  Flavor f;
  f.id = "4";
  f.name = "m1.gpu";
  f.vcpus = 4;
  f.memory_mb = 8192;
  f.root_gb = 40;
  f.is_public = false;
  f.extra_specs = {{"pci_passthrough:alias", "K2_Grid:1"}, {"gpu", "true"}};
  ASSERT_TRUE(store().create_flavor(f).ok());
  ASSERT_TRUE(store().set_flavor_extra_specs("4", {{"gpu", "false"}, {"x", "1"}}).ok());
  ASSERT_TRUE(store().delete_flavor_extra_spec("4", "x").ok());
  EXPECT_EQ(store().delete_flavor_extra_spec("4", "x").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store().add_flavor_access("4", "p1").ok());
  auto got = store().get_flavor("4");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->memory_mb, 8192);
  EXPECT_FALSE(got->is_public);
  EXPECT_EQ(got->extra_specs.at("gpu"), "false");
  EXPECT_EQ(got->extra_specs.at("pci_passthrough:alias"), "K2_Grid:1");
  EXPECT_EQ(got->extra_specs.size(), 2u);
  EXPECT_EQ(*store().list_flavor_access("4"), std::vector<std::string>{"p1"});
  ASSERT_TRUE(store().delete_flavor("4").ok());
  EXPECT_EQ(store().get_flavor("4").error().code, ErrorCode::kNotFound);
}

TEST_P(StoreTest, ImagesWithPropertiesChecksumsAndStatusRoundTrip) {
  Image i;
  i.id = "11111111-2222-3333-4444-555555555555";
  i.name = "centos";
  i.owner = "p1";
  i.visibility = ImageVisibility::kPublic;
  i.properties = {{"image_type", "gpu"}, {"service_url", "https://{}/"}};
  i.tags = {"seed"};
  i.min_disk = 10;
  ASSERT_TRUE(store().create_image(i).ok());
  i.status = ImageStatus::kActive;
  i.size = 1LL << 33;  // > 4 GiB: 64-bit all the way
  i.checksum = "d41d8cd98f00b204e9800998ecf8427e";
  i.os_hash_algo = "sha512";
  i.os_hash_value = "cf83e1357eefb8bd";
  i.location = "/var/lib/gpucloud/images/1111";
  i.properties.erase("service_url");
  ASSERT_TRUE(store().update_image(i).ok());
  ASSERT_TRUE(store().update_image_data(i, ImageStatus::kQueued).ok());
  auto got = store().get_image(i.id);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->status, ImageStatus::kActive);
  EXPECT_EQ(got->size, 1LL << 33);
  EXPECT_FALSE(got->virtual_size.has_value());
  EXPECT_EQ(got->checksum, i.checksum);
  EXPECT_EQ(got->properties, (std::map<std::string, std::string>{{"image_type", "gpu"}}));
  EXPECT_EQ(got->tags, std::vector<std::string>{"seed"});
  EXPECT_EQ(got->min_disk, 10);
  ASSERT_TRUE(store().delete_image(i.id).ok());
  EXPECT_TRUE(store().list_images()->empty());
}

// A metadata edit and an upload interleaved as two requests (or two replicas) do them: the edit
// was read while the image was saving and lands after the upload finished.
TEST_P(StoreTest, AMetadataEditReadBeforeAnUploadFinishedKeepsTheUploadsStatusAndData) {
  Image i;
  i.id = "2222";
  i.name = "before";
  i.owner = "p1";
  i.disk_format = "raw";
  i.container_format = "bare";
  ASSERT_TRUE(store().create_image(i).ok());
  Image saving = i;
  saving.status = ImageStatus::kSaving;
  ASSERT_TRUE(store().update_image_data(saving, ImageStatus::kQueued).ok());
  // A second upload begun at once loses: the image is no longer queued.
  auto again = store().update_image_data(saving, ImageStatus::kQueued);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  Image edit = *store().get_image(i.id);  // read while saving
  Image done = saving;
  done.status = ImageStatus::kActive;
  done.size = 4096;
  done.checksum = "0123";
  done.location = "file:///var/lib/gpucloud/images/2222";
  ASSERT_TRUE(store().update_image_data(done, ImageStatus::kSaving).ok());
  edit.name = "after";
  edit.tags = {"edited"};
  ASSERT_TRUE(store().update_image(edit).ok());  // carries status saving and no location
  auto got = store().get_image(i.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "after");
  EXPECT_EQ(got->tags, std::vector<std::string>{"edited"});
  EXPECT_EQ(got->status, ImageStatus::kActive);
  EXPECT_EQ(got->size, 4096);
  EXPECT_EQ(got->location, done.location);
  // The upload's data write does not touch the edit's fields either, and a gone image is 404.
  EXPECT_EQ(store().update_image_data(done, ImageStatus::kSaving).error().code,
            ErrorCode::kConflict);
  ASSERT_TRUE(store().delete_image(i.id).ok());
  EXPECT_EQ(store().update_image_data(done, ImageStatus::kActive).error().code,
            ErrorCode::kNotFound);
}

TEST_P(StoreTest, AggregatesWithZoneMetadataAndHostsRoundTrip) {
  Aggregate a;
  a.name = "aggregate_GPU";
  a.availability_zone = "Denver";
  auto made = store().create_aggregate(a);
  ASSERT_TRUE(made.ok()) << made.error().message;
  const int64_t id = made->id;
  ASSERT_TRUE(store().set_aggregate_metadata(id, {{"gpu", "true"}, {"x", "1"}}).ok());
  ASSERT_TRUE(store().set_aggregate_metadata(id, {{"x", std::nullopt}}).ok());
  ASSERT_TRUE(store().add_aggregate_host(id, "vmhost3").ok());
  EXPECT_EQ(store().add_aggregate_host(id, "vmhost3").error().code, ErrorCode::kConflict);
  EXPECT_EQ(store().delete_aggregate(id).error().code, ErrorCode::kConflict);
  auto got = store().get_aggregate(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->availability_zone, "Denver");
  EXPECT_EQ(got->metadata, (std::map<std::string, std::string>{{"gpu", "true"}}));
  EXPECT_EQ(got->hosts, std::vector<std::string>{"vmhost3"});
  ASSERT_TRUE(store().remove_aggregate_host(id, "vmhost3").ok());
  EXPECT_EQ(store().remove_aggregate_host(id, "vmhost3").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store().delete_aggregate(id).ok());
  EXPECT_TRUE(store().list_aggregates()->empty());
}

TEST_P(StoreTest, ComputeHostsKeepStateHeartbeatAndDoctorStatus) {
  ComputeHost h;
  h.name = "vmhost3";
  h.vcpus = 32;
  h.memory_mb = 131072;
  h.disk_gb = 1000;
  h.cpu_allocation_ratio = 4.0;
  auto made = store().upsert_compute_host(h);
  ASSERT_TRUE(made.ok()) << made.error().message;
  EXPECT_GT(made->id, 0);
  const auto beat = std::chrono::system_clock::now();
  ASSERT_TRUE(store().record_heartbeat("vmhost3", beat).ok());
  ASSERT_TRUE(store().set_compute_host_enabled("vmhost3", false, "maintenance").ok());
  ASSERT_TRUE(store().set_doctor_status("vmhost3", "IOMMU on; vfio-pci bound: 2 GPUs").ok());
  h.vcpus = 48;  // the agent reports again
  ASSERT_TRUE(store().upsert_compute_host(h).ok());
  auto got = store().get_compute_host("vmhost3");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, made->id);
  EXPECT_EQ(got->vcpus, 48);
  EXPECT_EQ(got->cpu_allocation_ratio, 4.0);
  EXPECT_FALSE(got->enabled);  // upsert does not touch the operator's switch
  EXPECT_EQ(got->disabled_reason, "maintenance");
  EXPECT_EQ(got->doctor_status, "IOMMU on; vfio-pci bound: 2 GPUs");
  ASSERT_TRUE(got->heartbeat_at.has_value());
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::microseconds>(got->heartbeat_at->time_since_epoch()),
      std::chrono::duration_cast<std::chrono::microseconds>(beat.time_since_epoch()));
  EXPECT_EQ(store().record_heartbeat("nope", beat).error().code, ErrorCode::kNotFound);

  // The boot time: none until reported, then the latest report.
  EXPECT_FALSE(store().host_booted_at("vmhost3")->has_value());
  const TimePoint booted(std::chrono::seconds(1764800000));
  ASSERT_TRUE(store().record_host_boot("vmhost3", booted).ok());
  ASSERT_TRUE(store().record_host_boot("vmhost3", booted + std::chrono::hours(5)).ok());
  auto boot = store().host_booted_at("vmhost3");
  ASSERT_TRUE(boot.ok()) << boot.error().message;
  ASSERT_TRUE(boot->has_value());
  EXPECT_EQ(**boot, booted + std::chrono::hours(5));
}

TEST_P(StoreTest, InstancesKeepStateFaultReadinessAndMetadata) {
  Instance i;
  i.uuid = "aaaaaaaa-0000-0000-0000-000000000001";
  i.name = "gpu-vm";
  i.project_id = "p1";
  i.user_id = "u1";
  i.flavor_id = "4";
  i.image_id = "img";
  i.availability_zone = "Denver";
  i.metadata = {{"role", "worker"}};
  i.user_data = "IyEvYmluL3NoCg==";
  i.config_drive = true;
  i.request_spec_json = R"({"pci_requests":[{"alias":"K2_Grid","count":1}]})";
  ASSERT_TRUE(store().create_instance(i).ok());
  ASSERT_TRUE(store().set_instance_host(i.uuid, "vmhost3").ok());
  ASSERT_TRUE(store()
                  .set_instance_status(i.uuid, ServerStatus::kActive, "active", std::nullopt,
                                       PowerState::kRunning)
                  .ok());
  ASSERT_TRUE(store().set_instance_readiness(i.uuid, Readiness::kTimedOut, "ssh: refused").ok());
  ASSERT_TRUE(store().set_instance_fault(i.uuid, {500, "no host has 1 free K2_Grid", "", {}}).ok());
  auto got = store().get_instance(i.uuid);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->host, "vmhost3");
  EXPECT_EQ(got->status, ServerStatus::kActive);
  EXPECT_FALSE(got->task_state.has_value());
  EXPECT_EQ(got->power_state, PowerState::kRunning);
  EXPECT_TRUE(got->launched_at.has_value());
  EXPECT_EQ(got->readiness, Readiness::kTimedOut);
  EXPECT_EQ(got->readiness_error, "ssh: refused");
  ASSERT_TRUE(got->fault.has_value());
  EXPECT_EQ(got->fault->message, "no host has 1 free K2_Grid");
  EXPECT_EQ(got->metadata, i.metadata);
  EXPECT_EQ(got->user_data, i.user_data);
  EXPECT_TRUE(got->config_drive);
  EXPECT_EQ(got->request_spec_json, i.request_spec_json);
  EXPECT_EQ(store().list_instances("p1", false)->size(), 1u);
  ASSERT_TRUE(store().delete_instance(i.uuid).ok());
  EXPECT_TRUE(store().list_instances("p1", false)->empty());
  EXPECT_EQ(store().list_instances("p1", true)->size(), 1u);
}

}  // namespace
}  // namespace gpucloud::store::testing
