// The agent protocol's payloads: the spawn task's (what the guest's config drive needs of the
// instance's system metadata travels, and nothing else of it) and the host report's boot time.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

// The spawn task carries the guest's firewall, and the agent sets it before the guest starts.
TEST(SpawnPayload, FirewallTravelsAndIsSetBeforeTheSpawn) {
  Firewall fw;
  fw.ingress = {{"tcp", 22, 22, "0.0.0.0/0"}, {"", -1, -1, "10.0.0.7/32"}};
  store::Instance i;
  i.uuid = "6f0e2c3a-1b7d-4c1e-9a55-0123456789ab";
  i.host = "kvm1";
  store::Flavor f;
  f.id = "1";
  f.vcpus = 1;
  f.memory_mb = 64;
  auto args = parse_spawn_payload(spawn_payload(i, f, store::Image{}, {}, fw));
  ASSERT_TRUE(args.ok()) << args.error().message;
  ASSERT_TRUE(args->firewall.has_value());
  EXPECT_EQ(*args->firewall, fw);
  EXPECT_FALSE(parse_spawn_payload(spawn_payload(i, f, store::Image{}, {}))->firewall);

  auto driver = make_fake_driver(
      R"({"hosts": [{"name": "kvm1", "vcpus": 4, "memory_mb": 4096, "disk_gb": 10}]})");
  ASSERT_TRUE(driver.ok());
  store::AgentTask task;
  task.id = "t1";
  task.kind = "spawn";
  task.host = "kvm1";
  task.instance_uuid = i.uuid;
  task.payload = spawn_payload(i, f, store::Image{}, {}, fw);
  ASSERT_TRUE(run_task(**driver, task).ok());
  auto held = (*driver)->firewall("kvm1", i.uuid);
  ASSERT_TRUE(held.ok() && held->has_value());
  EXPECT_EQ(**held, fw);
  // Destroying the guest forgets its firewall.
  ASSERT_TRUE((*driver)->destroy("kvm1", i.uuid).ok());
  EXPECT_FALSE((*driver)->firewall("kvm1", i.uuid)->has_value());
}

// What the agent refuses to turn into rules, naming the field.
TEST(Firewall, MalformedRulesAreRefusedNamingTheField) {
  EXPECT_TRUE(firewall_from_json(R"({"ingress": []})").ok());
  const std::pair<const char*, const char*> bad[] = {
      {R"({})", "firewall.ingress"},
      {R"({"ingress": [{"protocol": "gre", "cidr": "0.0.0.0/0"}]})", "ingress[0].protocol"},
      {R"({"ingress": [{"protocol": "tcp", "from_port": 70000, "cidr": "0.0.0.0/0"}]})",
       "ingress[0].from_port"},
      {R"({"ingress": [{"protocol": "tcp", "cidr": "10.0.0.0/40"}]})", "ingress[0].cidr"},
      {R"({"ingress": [{"protocol": "tcp", "cidr": "x' or '1"}]})", "ingress[0].cidr"},
      {R"({"ingress": [{"protocol": "tcp"}]})", "ingress[0].cidr"},
  };
  for (const auto& [text, field] : bad) {
    auto f = firewall_from_json(text);
    ASSERT_FALSE(f.ok()) << text;
    EXPECT_NE(f.error().message.find(field), std::string::npos) << f.error().message;
  }
}

TEST(HostReport, BootTimeTravelsToTheSecond) {
  HostResources h;
  h.name = "gpu-1";
  h.vcpus = 8;
  h.memory_mb = 1024;
  h.disk_gb = 10;
  h.booted_at = store::TimePoint(std::chrono::seconds(1764800000));
  auto back = host_resources_from_json(host_resources_to_json(h));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->booted_at, h.booted_at);
  h.booted_at.reset();
  back = host_resources_from_json(host_resources_to_json(h));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->booted_at.has_value());
  auto bad = host_resources_from_json(
      R"({"name": "x", "vcpus": 1, "memory_mb": 1, "disk_gb": 1, "booted_at": "yesterday"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("booted_at"), std::string::npos) << bad.error().message;
}

// The guest network travels with the host report; a malformed one is refused naming its field.
TEST(HostReport, GuestNetworkTravelsAndIsChecked) {
  HostResources h;
  h.name = "gpu-1";
  h.vcpus = 8;
  h.memory_mb = 1024;
  h.disk_gb = 10;
  h.guest_network = "default";
  h.guest_cidr = "192.168.122.0/24";
  auto back = host_resources_from_json(host_resources_to_json(h));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->guest_network, "default");
  EXPECT_EQ(back->guest_cidr, "192.168.122.0/24");
  const std::string base = R"({"name": "x", "vcpus": 1, "memory_mb": 1, "disk_gb": 1, )";
  for (const auto& [field, want] : std::vector<std::pair<std::string, std::string>>{
           {R"("guest_network": "default")", "guest_network: an object is required"},
           {R"("guest_network": {"cidr": "10.0.0.0/8"})", "guest_network.name: required"},
           {R"("guest_network": {"name": ""})", "guest_network.name: 1 to 255"},
           {R"("guest_network": {"name": "n", "cidr": "fd00::/64"})", "not an IPv4 network"},
           {R"("guest_network": {"name": "n", "cidr": "10.0.0.0/99"})", "not an IPv4 network"}}) {
    auto bad = host_resources_from_json(base + field + "}");
    ASSERT_FALSE(bad.ok()) << field;
    EXPECT_NE(bad.error().message.find(want), std::string::npos) << bad.error().message;
  }
}

// A driver that records the calls run_task makes, in order, and answers apply_firewall as told.
class RecordingDriver : public ComputeDriver {
 public:
  std::vector<std::string> calls;
  std::optional<Firewall> applied;
  Status firewall_answer;
  std::optional<std::vector<std::string>> reserved;

  std::string type() const override { return "recording"; }
  Result<std::vector<HostResources>> hosts() override { return std::vector<HostResources>{}; }
  Status spawn(const store::Instance& i, const store::Flavor&, const store::Image&,
               const std::vector<store::PciDeviceRecord>&) override {
    calls.push_back("spawn " + i.uuid);
    return {};
  }
  Status apply_firewall(const std::string& host, const std::string& uuid,
                        const Firewall& f) override {
    calls.push_back("apply_firewall " + host + " " + uuid);
    applied = f;
    return firewall_answer;
  }
  Status reserve_addresses(const std::string& host,
                           const std::vector<std::string>& addresses) override {
    calls.push_back("reserve_addresses " + host);
    reserved = addresses;
    return {};
  }
  Status destroy(const std::string&, const std::string&) override { return {}; }
  Status power_on(const std::string&, const std::string&) override { return {}; }
  Status power_off(const std::string&, const std::string&) override { return {}; }
  Status reboot(const std::string&, const std::string&, bool) override { return {}; }
  Result<std::vector<DomainInfo>> list_domains(const std::string&) override {
    return std::vector<DomainInfo>{};
  }
  Status snapshot(const std::string&, const std::string&, const std::string&) override {
    return {};
  }
};

store::AgentTask spawn_task(const std::optional<Firewall>& firewall,
                            const std::vector<std::string>& reserved = {}) {
  store::Instance i;
  i.uuid = "6f0e2c3a-1b7d-4c1e-9a55-0123456789ab";
  i.host = "gpu-1";
  store::Flavor f;
  f.id = "1";
  f.vcpus = 1;
  f.memory_mb = 512;
  store::AgentTask t;
  t.id = "task-1";
  t.host = "gpu-1";
  t.kind = "spawn";
  t.instance_uuid = i.uuid;
  t.payload = spawn_payload(i, f, store::Image{}, {}, firewall, reserved);
  return t;
}

Firewall ssh_from_anywhere() { return Firewall{{FirewallRule{"tcp", 22, 22, "0.0.0.0/0"}}}; }

// The libvirt driver references the guest's nwfilter only when it exists at spawn: the firewall
// must be set first, so that the guest never runs unfiltered.
TEST(RunTask, SpawnSetsTheFirewallBeforeTheGuestStarts) {
  RecordingDriver d;
  ASSERT_TRUE(run_task(d, spawn_task(ssh_from_anywhere())).ok());
  const std::vector<std::string> want = {
      "apply_firewall gpu-1 6f0e2c3a-1b7d-4c1e-9a55-0123456789ab", "reserve_addresses gpu-1",
      "spawn 6f0e2c3a-1b7d-4c1e-9a55-0123456789ab"};
  EXPECT_EQ(d.calls, want);
  ASSERT_TRUE(d.applied.has_value());
  EXPECT_EQ(*d.applied, ssh_from_anywhere());
}

// A driver without firewalls still boots the guest (logged, not fatal).
TEST(RunTask, SpawnGoesOnWhenTheDriverHasNoFirewall) {
  RecordingDriver d;
  d.firewall_answer = Error{ErrorCode::kNotImplemented, "no firewall here"};
  ASSERT_TRUE(run_task(d, spawn_task(ssh_from_anywhere())).ok());
  EXPECT_EQ(d.calls.size(), 3u);
}

// The host's reserved addresses are set before the guest starts (it takes its address then);
// none in the payload sets none, lifting earlier reservations.
TEST(RunTask, SpawnSetsTheReservedAddressesFirst) {
  RecordingDriver d;
  ASSERT_TRUE(run_task(d, spawn_task(std::nullopt, {"10.0.0.5", "10.0.0.6"})).ok());
  const std::vector<std::string> want = {"reserve_addresses gpu-1",
                                         "spawn 6f0e2c3a-1b7d-4c1e-9a55-0123456789ab"};
  EXPECT_EQ(d.calls, want);
  EXPECT_EQ(d.reserved, (std::vector<std::string>{"10.0.0.5", "10.0.0.6"}));
  ASSERT_TRUE(run_task(d, spawn_task(std::nullopt)).ok());
  EXPECT_EQ(d.reserved, std::vector<std::string>{});
  store::AgentTask bad = spawn_task(std::nullopt);
  auto j = nlohmann::json::parse(bad.payload);
  j["reserved_addresses"] = {1};
  bad.payload = j.dump();
  Status s = run_task(d, bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("payload.reserved_addresses[0]"), std::string::npos);
}

// Any other failure to set the firewall fails the spawn: a guest must not boot open.
TEST(RunTask, SpawnFailsWhenTheFirewallCannotBeSet) {
  RecordingDriver d;
  d.firewall_answer = Error::unavailable("libvirt is down");
  Status s = run_task(d, spawn_task(ssh_from_anywhere()));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message.find("libvirt is down"), std::string::npos);
  const std::vector<std::string> want = {
      "apply_firewall gpu-1 6f0e2c3a-1b7d-4c1e-9a55-0123456789ab"};
  EXPECT_EQ(d.calls, want);
}

}  // namespace
}  // namespace gpucloud::compute
