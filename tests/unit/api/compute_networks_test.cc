// os-networks, os-tenant-networks and os-fixed-ips over the guest networks the hosts report
// (docs/networks.md): what they list, a boot that asks for a network, who holds an address, and
// a reserved address that no new guest gets.
#include <gmock/gmock.h>
#include <sodium.h>

#include <set>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

const std::string kNets = kV + "/os-networks";
const std::string kTenantNets = kV + "/os-tenant-networks";
const std::string kFixed = kV + "/os-fixed-ips/";

// Beside the seed's three hosts (network "private", a loopback /24 each): red1 and red2 share
// network "red" and its range, blue1 alone has "blue".
class NetworksTest : public ComputeTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    ComputeTest::customize(deps, options);
    if (::testing::Test::HasFatalFailure()) return;
    json hosts = {{"hosts",
                   {{{"name", "red1"},
                     {"vcpus", 8},
                     {"memory_mb", 16384},
                     {"disk_gb", 100},
                     {"guest_network", "10.1.0.0/24"},
                     {"guest_network_name", "red"}},
                    {{"name", "red2"},
                     {"vcpus", 8},
                     {"memory_mb", 16384},
                     {"disk_gb", 100},
                     {"guest_network", "10.1.0.0/24"},
                     {"guest_network_name", "red"}},
                    {{"name", "blue1"},
                     {"vcpus", 8},
                     {"memory_mb", 16384},
                     {"disk_gb", 100},
                     {"guest_network", "10.2.0.0/24"},
                     {"guest_network_name", "blue"}}}}};
    // Nine hosts of network "wide" share one range, as libvirt's NAT network does on every host
    // of a fleet: os-fixed-ips then reads the fleet's guests at once, not host by host.
    for (int k = 0; k < 9; ++k) {
      hosts["hosts"].push_back({{"name", "wide" + std::to_string(k)},
                                {"vcpus", 8},
                                {"memory_mb", 16384},
                                {"disk_gb", 100},
                                {"guest_network", "10.3.0.0/24"},
                                {"guest_network_name", "wide"}});
    }
    auto driver = compute::make_fake_driver(hosts.dump());
    ASSERT_TRUE(driver.ok()) << driver.error().message;
    driver_ = std::move(*driver);
    ASSERT_TRUE(compute::register_hosts(*driver_, *store_, {}).ok());
    deps.driver = driver_.get();
  }

  // label -> network, as `token` lists them at 2.1.
  std::map<std::string, json> networks(const std::string& token, const std::string& path) {
    std::map<std::string, json> out;
    const json listed = get_json(path, token);  // bound: a temporary's member would dangle
    for (const auto& n : listed["networks"]) out[n["label"].get<std::string>()] = n;
    return out;
  }

  // POST /servers (flavor 1, the plain image) at `version`; the status and the id or the body.
  std::pair<int, std::string> boot_on(const json& networks, const std::string& token,
                                      const std::string& version = "2.1",
                                      const std::string& host = "") {
    json s = {{"name", "n"}, {"flavorRef", "1"}, {"imageRef", plain_image_id_}};
    if (!networks.is_null()) s["networks"] = networks;
    if (!host.empty()) s["host"] = host;
    auto r =
        client_->Post((kV + "/servers").c_str(),
                      {{"X-Auth-Token", token}, {"OpenStack-API-Version", "compute " + version}},
                      json{{"server", s}}.dump(), "application/json");
    if (!r) return {-1, ""};
    if (r->status != 202) return {r->status, r->body};
    return {202, json::parse(r->body)["server"]["id"].get<std::string>()};
  }

  // The server's one address on `label` once ACTIVE.
  std::string address_of(const std::string& id, const std::string& label) {
    json s = wait_built(id, admin_);
    EXPECT_EQ(s["status"], "ACTIVE") << s.dump();
    if (!s["addresses"].contains(label)) {
      ADD_FAILURE() << "no address on " << label << ": " << s["addresses"].dump();
      return "";
    }
    return s["addresses"][label][0]["addr"];
  }

  // A network's id as docs/networks.md says it is derived: SHA-256 of the name (with a prefix),
  // version and variant bits set as in a v5 UUID.
  static std::string derived_id(const std::string& name) {
    const std::string in = "gpucloud-guest-network:" + name;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(in.data()), in.size());
    h[6] = static_cast<unsigned char>((h[6] & 0x0f) | 0x50);
    h[8] = static_cast<unsigned char>((h[8] & 0x3f) | 0x80);
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, h, 16);
    const std::string x = hex;
    return x.substr(0, 8) + "-" + x.substr(8, 4) + "-" + x.substr(12, 4) + "-" + x.substr(16, 4) +
           "-" + x.substr(20, 12);
  }

  int action(const std::string& address, const json& body, const std::string& token) {
    auto r = post(kFixed + address + "/action", token, body.dump());
    return r ? r->status : -1;
  }
};

TEST_F(NetworksTest, ListedFromWhatTheHostsReport) {
  auto mine = networks(alice_, kNets);
  ASSERT_EQ(mine.size(), 4u);
  ASSERT_TRUE(mine.count("red") && mine.count("blue") && mine.count("private"));
  // One range on every host of the network: it is the network's; the seed's hosts each have
  // their own loopback /24, so "private" has none of its own.
  EXPECT_EQ(mine["red"]["cidr"], "10.1.0.0/24");
  EXPECT_EQ(mine["red"]["netmask"], "255.255.255.0");
  EXPECT_EQ(mine["blue"]["cidr"], "10.2.0.0/24");
  EXPECT_TRUE(mine["private"]["cidr"].is_null());
  EXPECT_NE(mine["red"]["id"], mine["blue"]["id"]);
  EXPECT_FALSE(mine["red"].contains("multi_host"));  // an admin's field
  auto admins = networks(admin_, kNets);
  EXPECT_EQ(admins["red"]["id"], mine["red"]["id"]);
  EXPECT_EQ(admins["red"]["multi_host"], true);

  json shown = get_json(kNets + "/" + mine["blue"]["id"].get<std::string>(), rita_)["network"];
  EXPECT_EQ(shown, mine["blue"]);
  EXPECT_EQ(get(kNets + "/00000000-0000-5000-8000-000000000000", alice_)->status, 404);

  // os-tenant-networks: the same networks, with nova's three fields.
  auto tenant = networks(bob_, kTenantNets);
  ASSERT_EQ(tenant.size(), 4u);
  EXPECT_EQ(tenant["red"],
            json({{"id", mine["red"]["id"]}, {"label", "red"}, {"cidr", "10.1.0.0/24"}}));
  json t = get_json(kTenantNets + "/" + mine["red"]["id"].get<std::string>(), bob_)["network"];
  EXPECT_EQ(t, tenant["red"]);

  // os-tenant-networks ends at 2.35, as nova's proxy APIs do. os-networks does not: without
  // neutron it is where a network's id is found at any microversion.
  EXPECT_EQ(vget(kTenantNets, alice_, "2.36")->status, 404);
  EXPECT_EQ(vget(kTenantNets, alice_, "2.35")->status, 200);
  EXPECT_EQ(vget(kNets, alice_, "2.96")->status, 200);
  EXPECT_EQ(get(kNets, "not-a-token")->status, 401);
}

TEST_F(NetworksTest, ABootThatAsksForANetworkGoesToAHostThatHasIt) {
  const std::string blue = networks(alice_, kNets)["blue"]["id"];
  for (int k = 0; k < 3; ++k) {
    auto [status, id] = boot_on(json::array({{{"uuid", blue}}}), alice_);
    ASSERT_EQ(status, 202) << id;
    EXPECT_EQ(address_of(id, "blue"), "10.2.0." + std::to_string(2 + k));
    EXPECT_EQ(store_->get_instance(id)->host, "blue1");
  }
  // Unknown network, a port, a fixed IP, two networks: 400s that say why; nothing is made.
  const auto before = store_->list_instances("", true)->size();
  auto [s1, b1] =
      boot_on(json::array({{{"uuid", "00000000-0000-5000-8000-000000000000"}}}), alice_);
  EXPECT_EQ(s1, 400);
  EXPECT_THAT(
      b1, ::testing::HasSubstr("Network 00000000-0000-5000-8000-000000000000 could not be found"));
  auto [s2, b2] =
      boot_on(json::array({{{"port", "00000000-0000-5000-8000-000000000000"}}}), alice_);
  EXPECT_EQ(s2, 400);
  EXPECT_THAT(b2, ::testing::HasSubstr("no ports"));
  auto [s3, b3] = boot_on(json::array({{{"uuid", blue}, {"fixed_ip", "10.2.0.9"}}}), alice_);
  EXPECT_EQ(s3, 400);
  EXPECT_THAT(b3, ::testing::HasSubstr("fixed_ip"));
  auto [s4, b4] = boot_on(json::array({{{"uuid", blue}}, {{"uuid", blue}}}), alice_);
  EXPECT_EQ(s4, 400);
  EXPECT_THAT(b4, ::testing::HasSubstr("one NIC"));
  EXPECT_EQ(store_->list_instances("", true)->size(), before);

  // A requested host without the network: no valid host, and the fault says why.
  auto [s5, id5] = boot_on(json::array({{{"uuid", blue}}}), admin_, "2.74", "red1");
  ASSERT_EQ(s5, 202) << id5;
  json failed = wait_built(id5, admin_);
  EXPECT_EQ(failed["status"], "ERROR");
  EXPECT_THAT(failed["fault"]["message"].get<std::string>(), ::testing::HasSubstr("No valid host"));
}

TEST_F(NetworksTest, FixedIpsShowWhoHasAnAddressAndReserveIt) {
  const std::string blue = networks(alice_, kNets)["blue"]["id"];
  auto [status, id] = boot_on(json::array({{{"uuid", blue}}}), alice_);
  ASSERT_EQ(status, 202);
  const std::string ip = address_of(id, "blue");
  ASSERT_EQ(ip, "10.2.0.2");

  json f = get_json(kFixed + ip, admin_)["fixed_ip"];
  EXPECT_EQ(f,
            json({{"address", ip}, {"cidr", "10.2.0.0/24"}, {"host", "blue1"}, {"hostname", "n"}}));
  // An address of the range that nobody has: no host, no hostname.
  json free = get_json(kFixed + "10.2.0.77", admin_)["fixed_ip"];
  EXPECT_TRUE(free["host"].is_null());
  EXPECT_TRUE(free["hostname"].is_null());
  EXPECT_EQ(get(kFixed + "10.9.9.9", admin_)->status, 404);
  EXPECT_EQ(get(kFixed + "my.invalid.ip", admin_)->status, 400);
  EXPECT_EQ(get(kFixed + ip, alice_)->status, 403);
  EXPECT_EQ(action(ip, {{"reserve", nullptr}}, alice_), 403);
  EXPECT_EQ(vget(kFixed + ip, admin_, "2.36")->status, 404);

  // Reserve the next free address: the next guest skips it; the one holding .2 keeps it.
  EXPECT_EQ(action("10.2.0.3", {{"reserve", "None"}}, admin_), 202);
  EXPECT_EQ(action("10.2.0.3", {{"reserve", "None"}}, admin_), 202);  // idempotent, as nova's
  EXPECT_EQ(vget(kFixed + "10.2.0.3", admin_, "2.4")->status, 200);
  EXPECT_EQ(json::parse(vget(kFixed + "10.2.0.3", admin_, "2.4")->body)["fixed_ip"]["reserved"],
            true);
  EXPECT_FALSE(get_json(kFixed + "10.2.0.3", admin_)["fixed_ip"].contains("reserved"));  // 2.1
  auto [s2, id2] = boot_on(json::array({{{"uuid", blue}}}), alice_);
  ASSERT_EQ(s2, 202);
  EXPECT_EQ(address_of(id2, "blue"), "10.2.0.4");
  EXPECT_EQ(action(ip, {{"reserve", nullptr}}, admin_), 202);
  EXPECT_EQ(address_of(id, "blue"), ip);

  // Unreserved, .3 is the next guest's.
  EXPECT_EQ(action("10.2.0.3", {{"unreserve", nullptr}}, admin_), 202);
  EXPECT_EQ(json::parse(vget(kFixed + "10.2.0.3", admin_, "2.4")->body)["fixed_ip"]["reserved"],
            false);
  auto [s3, id3] = boot_on(json::array({{{"uuid", blue}}}), alice_);
  ASSERT_EQ(s3, 202);
  EXPECT_EQ(address_of(id3, "blue"), "10.2.0.3");

  EXPECT_EQ(action(ip, {{"invalid_action", nullptr}}, admin_), 400);
  EXPECT_EQ(action(ip, {{"reserve", nullptr}, {"unreserve", nullptr}}, admin_), 400);
  EXPECT_EQ(action("my.invalid.ip", {{"reserve", nullptr}}, admin_), 400);
  EXPECT_EQ(action("10.9.9.9", {{"reserve", nullptr}}, admin_), 404);
  auto stored = store_->list_fixed_ip_reservations();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, (std::vector<std::pair<std::string, std::string>>{{"blue", ip}}));
}

// Boots resolve a network id from the ids seen before, without reading every host; an id not
// seen yet (a network a host registered since) reads the hosts once.
TEST_F(NetworksTest, ANetworkRegisteredLaterIsFoundAndOneGoneFailsScheduling) {
  const std::string blue = networks(alice_, kNets)["blue"]["id"];
  // Registered as an agent's report would be.
  auto register_on = [&](const std::string& host, const std::string& network,
                         const std::string& cidr) {
    compute::HostResources r;
    r.name = host;
    r.vcpus = 8;
    r.memory_mb = 16384;
    r.disk_gb = 100;
    r.guest_network = network;
    r.guest_cidr = cidr;
    return compute::register_host(r, *store_, {}).ok();
  };
  ASSERT_TRUE(register_on("green1", "green", "10.4.0.0/24"));
  // green's id as any replica derives it from the name (checked against blue's as listed); this
  // server has not listed green yet.
  EXPECT_EQ(derived_id("blue"), blue);
  const std::string green_id = derived_id("green");
  auto [s1, id1] = boot_on(json::array({{{"uuid", green_id}}}), alice_);
  EXPECT_EQ(s1, 202) << id1;
  // blue1 re-registers on another network: blue's id is still known here, so the boot is taken
  // and the scheduler finds no host of it, saying so.
  ASSERT_TRUE(register_on("blue1", "teal", "10.2.0.0/24"));
  auto [s2, id2] = boot_on(json::array({{{"uuid", blue}}}), alice_);
  ASSERT_EQ(s2, 202) << id2;
  json failed = wait_built(id2, alice_);
  EXPECT_EQ(failed["status"], "ERROR");
  EXPECT_THAT(failed["fault"]["message"].get<std::string>(), ::testing::HasSubstr("'blue'"));
  EXPECT_FALSE(networks(alice_, kNets).count("blue"));
}

// Host rows whose capabilities are not what register_host writes (hand-edited, another version)
// are read as hosts without a network, or a network without a range, never as a failure.
TEST_F(NetworksTest, OddHostRowsAreReadAsWhatTheyCanBe) {
  for (const auto& [name, caps] : std::vector<std::pair<std::string, std::string>>{
           {"odd1", "{not json"},
           {"odd2", R"({"guest_network": "red"})"},
           {"odd3", R"({"guest_network": {"name": 5, "cidr": "10.1.0.0/24"}})"},
           {"odd4", R"({"guest_network": {"name": "odd", "cidr": "10.9.0.0/99"}})"},
           {"odd5", R"({"guest_network": {"name": "odd", "cidr": 7}})"}}) {
    store::ComputeHost h;
    h.name = name;
    h.vcpus = 1;
    h.memory_mb = 1024;
    h.disk_gb = 1;
    h.capabilities_json = caps;
    ASSERT_TRUE(store_->upsert_compute_host(h).ok());
  }
  auto all = networks(admin_, kNets);
  ASSERT_TRUE(all.count("odd"));
  EXPECT_TRUE(all["odd"]["cidr"].is_null());
  EXPECT_EQ(all.size(), 5u);
  EXPECT_EQ(get(kFixed + "10.9.0.1", admin_)->status, 404);
  EXPECT_EQ(get(kFixed + "10.2.0.9", admin_)->status, 200);
}

// GET /servers?ip=: nova's regular expression, matched from the start of the address.
TEST_F(NetworksTest, ServersFilteredByAddress) {
  const std::string blue = networks(alice_, kNets)["blue"]["id"];
  std::vector<std::string> ids;
  for (int k = 0; k < 2; ++k) {
    auto [status, id] = boot_on(json::array({{{"uuid", blue}}}), alice_);
    ASSERT_EQ(status, 202);
    EXPECT_EQ(address_of(id, "blue"), "10.2.0." + std::to_string(2 + k));
    ids.push_back(id);
  }
  auto listed = [&](const std::string& query) {
    std::set<std::string> out;
    const json page = get_json(kV + "/servers?" + query, alice_);
    for (const auto& s : page["servers"]) out.insert(s["id"].get<std::string>());
    return out;
  };
  EXPECT_EQ(listed("ip=10.2.0.3"), std::set<std::string>{ids[1]});
  EXPECT_EQ(listed("ip=10%5C.2"), std::set<std::string>(ids.begin(), ids.end()));
  EXPECT_TRUE(listed("ip=2.0.3").empty());  // from the start, as nova's re.match
  EXPECT_TRUE(listed("ip6=fd00").empty());  // no guest has an IPv6 address
  EXPECT_EQ(listed("ip=10.2.0.2&ip6=fd00"), std::set<std::string>{ids[0]});
  auto bad = get(kV + "/servers?ip=%28", alice_);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, ::testing::HasSubstr("query parameter ip"));
}

TEST_F(NetworksTest, AnAddressTwoHostsGaveOutIsAConflictNotAGuess) {
  const std::string red = networks(alice_, kNets)["red"]["id"];
  auto [s1, id1] = boot_on(json::array({{{"uuid", red}}}), admin_, "2.74", "red1");
  auto [s2, id2] = boot_on(json::array({{{"uuid", red}}}), admin_, "2.74", "red2");
  ASSERT_EQ(s1, 202) << id1;
  ASSERT_EQ(s2, 202) << id2;
  EXPECT_EQ(address_of(id1, "red"), "10.1.0.2");
  EXPECT_EQ(address_of(id2, "red"), "10.1.0.2");
  auto r = get(kFixed + "10.1.0.2", admin_);
  EXPECT_EQ(r->status, 409);
  EXPECT_THAT(r->body, ::testing::HasSubstr("held by 2 servers"));

  // The same over nine hosts, where the lookup reads the fleet's guests in one go.
  const std::string wide = networks(alice_, kNets)["wide"]["id"];
  auto [s3, id3] = boot_on(json::array({{{"uuid", wide}}}), admin_, "2.74", "wide3");
  ASSERT_EQ(s3, 202) << id3;
  EXPECT_EQ(address_of(id3, "wide"), "10.3.0.2");
  EXPECT_EQ(get_json(kFixed + "10.3.0.2", admin_)["fixed_ip"]["host"], "wide3");
  EXPECT_TRUE(get_json(kFixed + "10.3.0.3", admin_)["fixed_ip"]["host"].is_null());
  auto [s4, id4] = boot_on(json::array({{{"uuid", wide}}}), admin_, "2.74", "wide7");
  ASSERT_EQ(s4, 202) << id4;
  EXPECT_EQ(address_of(id4, "wide"), "10.3.0.2");
  EXPECT_EQ(get(kFixed + "10.3.0.2", admin_)->status, 409);
}

}  // namespace
}  // namespace gpucloud::api::testing
