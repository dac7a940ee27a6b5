// GPU and resource claims: all or nothing, allocated when running, released on delete, every
// transition in pci_device_events, quotas, and nova-shaped queries on pci_devices.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

DeviceRequest k2(int count, const std::string& request_id = "req-1") {
  DeviceRequest r;
  r.alias = "K2_Grid";
  r.request_id = request_id;
  r.count = count;
  r.matches.push_back({*HexId::parse("10de"), *HexId::parse("11bf"), std::nullopt});
  return r;
}

ClaimRequest gpu_claim(const std::string& instance, int count, const std::string& host = "h1") {
  ClaimRequest c;
  c.instance_uuid = instance;
  c.project_id = "p1";
  c.host = host;
  c.resources = {2, 4096, 20};
  if (count > 0) c.devices.push_back(k2(count));
  return c;
}

int count_status(Store& s, PciDeviceStatus st) {
  PciDeviceFilter f;
  f.status = st;
  return static_cast<int>(s.list_pci_devices(f)->size());
}

TEST_P(StoreTest, ClaimTakesExactlyTheRequestedDevicesAndResources) {
  add_gpu_host("h1", 4);
  auto c = store().claim(gpu_claim("i1", 2));
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->devices.size(), 2u);
  for (const auto& d : c->devices) {
    EXPECT_EQ(d.status, PciDeviceStatus::kClaimed);
    EXPECT_EQ(d.instance_uuid, "i1");
    EXPECT_EQ(d.request_id, "req-1");
  }
  EXPECT_EQ(count_status(store(), PciDeviceStatus::kAvailable), 2);
  auto h = store().get_compute_host("h1");
  EXPECT_EQ(h->vcpus_used, 2);
  EXPECT_EQ(h->memory_mb_used, 4096);
  EXPECT_EQ(h->disk_gb_used, 20);
}

TEST_P(StoreTest, ClaimForMoreDevicesThanFreeChangesNothing) {
  add_gpu_host("h1", 2);
  ASSERT_TRUE(store().claim(gpu_claim("i1", 1)).ok());
  auto c = store().claim(gpu_claim("i2", 2));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kConflict);
  EXPECT_NE(c.error().message.find("host h1 has 1 free K2_Grid (10de:11bf), 2 requested"),
            std::string::npos)
      << c.error().message;
  EXPECT_EQ(count_status(store(), PciDeviceStatus::kAvailable), 1);
  EXPECT_EQ(store().get_compute_host("h1")->vcpus_used, 2);  // only i1's
  PciDeviceFilter f;
  f.instance_uuid = "i2";
  EXPECT_TRUE(store().list_pci_devices(f)->empty());
}

TEST_P(StoreTest, ClaimBeyondHostResourcesWithAllocationRatioIsRefused) {
  ComputeHost h;
  h.name = "small";
  h.vcpus = 2;
  h.cpu_allocation_ratio = 2.0;  // 4 vCPUs may be claimed
  h.memory_mb = 8192;
  h.ram_allocation_ratio = 1.0;
  h.disk_gb = 100;
  ASSERT_TRUE(store().upsert_compute_host(h).ok());
  ClaimRequest c = gpu_claim("a", 0, "small");
  c.resources = {3, 1024, 10};
  ASSERT_TRUE(store().claim(c).ok());
  c.instance_uuid = "b";
  c.resources = {1, 1024, 10};
  ASSERT_TRUE(store().claim(c).ok());  // exactly 4
  c.instance_uuid = "c";
  auto r = store().claim(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  c.resources = {0, 8192 - 2048 + 1, 0};  // RAM: 1 MB too many
  EXPECT_FALSE(store().claim(c).ok());
  c.resources = {0, 8192 - 2048, 0};
  EXPECT_TRUE(store().claim(c).ok());
  EXPECT_EQ(store().get_compute_host("small")->vcpus_used, 4);
}

TEST_P(StoreTest, ClaimOnUnknownHostIsNotFoundAndSecondClaimForOneInstanceConflicts) {
  add_gpu_host("h1", 2);
  auto r = store().claim(gpu_claim("i1", 1, "nowhere"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store().claim(gpu_claim("i1", 1)).ok());
  auto again = store().claim(gpu_claim("i1", 1));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(count_status(store(), PciDeviceStatus::kClaimed), 1);
}

TEST_P(StoreTest, ClaimFollowsAHostRegisteredAnewUnderTheSameName) {
  add_gpu_host("h1", 1);
  ASSERT_TRUE(store().claim(gpu_claim("i1", 1)).ok());  // the store now knows h1's id
  // Behind the store's back (another replica, an operator): h1's row is renamed and a new
  // host h1 registered, with a new id and its own GPU.
  db().exec("UPDATE compute_hosts SET name = 'h1-old' WHERE name = 'h1'");
  const ComputeHost fresh = add_gpu_host("h1", 1);
  auto c = store().claim(gpu_claim("i2", 1));
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->devices.size(), 1u);
  EXPECT_EQ(c->devices[0].compute_node_id, fresh.id);
  EXPECT_EQ(store().get_compute_host("h1")->vcpus_used, 2);      // i2's only
  EXPECT_EQ(store().get_compute_host("h1-old")->vcpus_used, 2);  // i1's only
  // And a host that is gone is not found, not "out of devices".
  db().exec("UPDATE compute_hosts SET name = 'h1-gone' WHERE name = 'h1'");
  auto gone = store().claim(gpu_claim("i3", 1));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound) << gone.error().message;
}

TEST_P(StoreTest, ClaimedDevicesMoveToAllocatedAndBackToAvailableWithEveryStepLogged) {
  add_gpu_host("h1", 2);
  ASSERT_TRUE(store().claim(gpu_claim("i1", 2)).ok());
  ASSERT_TRUE(store().allocate_claims("i1").ok());
  EXPECT_EQ(count_status(store(), PciDeviceStatus::kAllocated), 2);
  // Not used by a guest (the spawn was never sent): straight back, no cleaning (cleaning_test.cc).
  ASSERT_TRUE(store().release_claims("i1", false).ok());
  ASSERT_TRUE(store().release_claims("i1", false).ok());  // idempotent
  EXPECT_EQ(count_status(store(), PciDeviceStatus::kAvailable), 2);
  EXPECT_EQ(store().get_compute_host("h1")->vcpus_used, 0);
  auto ev = store().list_pci_device_events("i1");
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 6u);  // 2 devices x (claimed, allocated, available)
  int claimed = 0, allocated = 0, freed = 0;
  for (const auto& e : *ev) {
    EXPECT_EQ(e.request_id, "req-1");
    if (e.to_status == PciDeviceStatus::kClaimed) ++claimed;
    if (e.to_status == PciDeviceStatus::kAllocated) ++allocated;
    if (e.to_status == PciDeviceStatus::kAvailable) ++freed;
  }
  EXPECT_EQ(claimed, 2);
  EXPECT_EQ(allocated, 2);
  EXPECT_EQ(freed, 2);
  auto dev = store().list_pci_devices({});
  for (const auto& d : *dev) EXPECT_FALSE(d.instance_uuid.has_value());
}

TEST_P(StoreTest, DeletingAnInstanceReleasesItsDevicesInTheSameTransaction) {
  add_gpu_host("h1", 2);
  Instance i;
  i.uuid = "i1";
  i.project_id = "p1";
  i.user_id = "u1";
  i.flavor_id = "4";
  ASSERT_TRUE(store().create_instance(i).ok());
  ASSERT_TRUE(store().claim(gpu_claim("i1", 1)).ok());
  ASSERT_TRUE(store().delete_instance("i1").ok());
  EXPECT_EQ(store().get_instance("i1")->status, ServerStatus::kDeleted);
  EXPECT_EQ(count_status(store(), PciDeviceStatus::kAvailable), 1);
  EXPECT_EQ(count_status(store(), PciDeviceStatus::kCleaning), 1);  // its GPU, being cleaned
  EXPECT_EQ(store().get_compute_host("h1")->vcpus_used, 0);
}

TEST_P(StoreTest, NumaRestrictedClaimTakesOnlyDevicesOnThoseNodes) {
  add_gpu_host("h1", 4, 2);  // nodes 0,1,0,1
  ClaimRequest c = gpu_claim("i1", 0);
  DeviceRequest r = k2(2);
  r.numa_nodes = {1};
  c.devices.push_back(r);
  auto got = store().claim(c);
  ASSERT_TRUE(got.ok()) << got.error().message;
  for (const auto& d : got->devices) EXPECT_EQ(d.numa_node, 1);
  c.instance_uuid = "i2";
  EXPECT_FALSE(store().claim(c).ok());  // node 1 is full, node 0 is not allowed
}

TEST_P(StoreTest, GpuQuotaPerProjectAndAliasIsEnforcedInTheClaim) {
  add_gpu_host("h1", 4);
  ASSERT_TRUE(store().set_gpu_quota({"p1", "K2_Grid", 2}).ok());
  ASSERT_TRUE(store().claim(gpu_claim("i1", 1)).ok());
  ASSERT_TRUE(store().claim(gpu_claim("i2", 1)).ok());
  auto r = store().claim(gpu_claim("i3", 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kForbidden);  // not a lost race: no retry can help
  EXPECT_NE(r.error().message.find("GPU quota exceeded for K2_Grid"), std::string::npos);
  EXPECT_EQ(store().gpu_usage("p1")->at("K2_Grid"), 2);
  ASSERT_TRUE(store().release_claims("i1").ok());
  EXPECT_TRUE(store().claim(gpu_claim("i3", 1)).ok());
  ASSERT_EQ(store().list_gpu_quotas("p1")->size(), 1u);
}

TEST_P(StoreTest, InventorySyncAddsNewDevicesAndSoftDeletesVanishedFreeOnesAsNovaDoes) {
  add_gpu_host("h1", 3);
  ASSERT_TRUE(store().claim(gpu_claim("i1", 1)).ok());
  PciDeviceFilter mine;
  mine.instance_uuid = "i1";
  const PciAddress held = store().list_pci_devices(mine)->front().address;
  // The host now reports no devices at all.
  ASSERT_TRUE(store().sync_pci_devices("h1", {}).ok());
  EXPECT_EQ(count_status(store(), PciDeviceStatus::kAvailable), 0);
  EXPECT_EQ(count_status(store(), PciDeviceStatus::kClaimed), 1);  // in use: kept
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM pci_devices WHERE status = 'removed' "
                       "AND deleted = id AND deleted_at IS NOT NULL"),
            2);
  EXPECT_EQ(store().list_pci_devices(mine)->front().address, held);
  ASSERT_TRUE(store().release_claims("i1", false).ok());  // no guest had it: no cleaning
  ASSERT_TRUE(store().sync_pci_devices("h1", {}).ok());
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM pci_devices WHERE deleted = 0"), 0);
}

TEST_P(StoreTest, NovaShapedQueriesOnPciDevicesWorkUnchanged) {
  const ComputeHost h = add_gpu_host("h1", 4);
  ASSERT_TRUE(store().claim(gpu_claim("i1", 1)).ok());
  // The Cloud Controller's query against nova.pci_devices, as written for nova.
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM pci_devices WHERE deleted = 0 AND "
                       "status = 'available' AND vendor_id = '10de' AND product_id = '11bf'"),
            3);
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM pci_devices WHERE instance_uuid IS NOT NULL "
                       "AND request_id IS NOT NULL AND dev_type = 'type-PCI' AND "
                       "label = 'label_10de_11bf' AND compute_node_id = " +
                       std::to_string(h.id)),
            1);
  auto rows = read_pci_devices(db().url());
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  EXPECT_EQ(rows->size(), 4u);
  EXPECT_EQ(rows->front().dev_id, "pci_0000_40_00_0");
}

TEST_P(StoreTest, ReadPciDevicesReadsANovaDatabaseWithSoftDeletedAndOtherStatusRows) {
  TestDb nova(GetParam());
  nova.exec(
      "CREATE TABLE pci_devices (created_at DATETIME, updated_at DATETIME, "
      "deleted_at DATETIME, deleted INTEGER, id INTEGER NOT NULL PRIMARY KEY, "
      "compute_node_id INTEGER NOT NULL, address VARCHAR(12) NOT NULL, "
      "product_id VARCHAR(4) NOT NULL, vendor_id VARCHAR(4) NOT NULL, "
      "dev_type VARCHAR(8) NOT NULL, dev_id VARCHAR(255), label VARCHAR(255) NOT NULL, "
      "status VARCHAR(36) NOT NULL, extra_info TEXT, instance_uuid VARCHAR(36), "
      "request_id VARCHAR(36), numa_node INTEGER, parent_addr VARCHAR(12), "
      "uuid VARCHAR(36))");
  nova.exec(
      "INSERT INTO pci_devices VALUES ('2024-01-01 00:00:00', NULL, NULL, 0, 1, 1, "
      "'0000:05:00.0', '11bf', '10de', 'type-PCI', 'pci_0000_05_00_0', 'label_10de_11bf', "
      "'available', '{}', NULL, NULL, 0, NULL, 'u1')");
  nova.exec(
      "INSERT INTO pci_devices VALUES ('2024-01-01 00:00:00', NULL, '2024-02-01 00:00:00', "
      "2, 2, 1, '0000:06:00.0', '11bf', '10de', 'type-PCI', 'x', 'label_10de_11bf', "
      "'removed', '{}', NULL, NULL, 0, NULL, 'u2')");
  nova.exec(
      "INSERT INTO pci_devices VALUES ('2024-01-01 00:00:00', NULL, NULL, 0, 3, 2, "
      "'0000:07:00.0', '1521', '8086', 'type-PF', 'y', 'label_8086_1521', "
      "'unclaimable', '{}', NULL, NULL, NULL, NULL, 'u3')");
  auto rows = read_pci_devices(nova.url());
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);  // the soft-deleted row is not live
  EXPECT_EQ((*rows)[0].status, PciDeviceStatus::kAvailable);
  EXPECT_EQ((*rows)[1].status, PciDeviceStatus::kUnclaimable);
  EXPECT_EQ((*rows)[1].dev_type, PciDeviceType::kPf);
  EXPECT_FALSE((*rows)[1].numa_node.has_value());
}

}  // namespace
}  // namespace gpucloud::store::testing

namespace gpucloud::store::testing {
namespace {

// A multi-device claim with the scheduler's chosen devices takes exactly those, or, when one of
// them went to another claim meanwhile, nothing (a lost race, not other devices).
TEST_P(StoreTest, ClaimOfChosenDevicesTakesExactlyThoseOrNothing) {
  add_gpu_host("h1", 4);
  ClaimRequest c = gpu_claim("i1", 2);
  c.devices[0].addresses = {*PciAddress::parse("0000:41:00.0"), *PciAddress::parse("0000:43:00.0")};
  auto got = store().claim(c);
  ASSERT_TRUE(got.ok()) << got.error().message;
  std::vector<std::string> addresses;
  for (const auto& d : got->devices) addresses.push_back(d.address.to_string());
  EXPECT_EQ(addresses, (std::vector<std::string>{"0000:41:00.0", "0000:43:00.0"}));
  ClaimRequest again = gpu_claim("i2", 2);
  again.devices[0].addresses = {*PciAddress::parse("0000:40:00.0"),
                                *PciAddress::parse("0000:43:00.0")};
  auto lost = store().claim(again);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, ErrorCode::kConflict);
  EXPECT_EQ(count_status(store(), PciDeviceStatus::kAvailable), 2);  // 40 and 42 untouched
}

}  // namespace
}  // namespace gpucloud::store::testing
