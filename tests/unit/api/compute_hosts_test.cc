#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <memory>
#include <regex>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

TEST_F(ComputeTest, HypervisorsShowTheFakeHosts) {
  json list = get_json(kV + "/os-hypervisors", admin_)["hypervisors"];
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[2]["hypervisor_hostname"], "vmhost3");
  EXPECT_EQ(list[2]["state"], "up");
  json detail = get_json(kV + "/os-hypervisors/detail", admin_)["hypervisors"];
  EXPECT_EQ(detail[2]["vcpus"], 40);
  EXPECT_EQ(detail[2]["memory_mb"], 262144);
  const std::string id = std::to_string(list[0]["id"].get<int64_t>());
  EXPECT_EQ(get_json(kV + "/os-hypervisors/" + id, admin_)["hypervisor"]["hypervisor_hostname"],
            "vmhost1");
  EXPECT_EQ(get(kV + "/os-hypervisors/9999", admin_)->status, 404);
  EXPECT_EQ(get_json(kV + "/os-hypervisors/statistics", admin_)["hypervisor_statistics"]["count"],
            3);
  EXPECT_EQ(get(kV + "/os-hypervisors", alice_)->status, 403);
}

// nova 2.1: hypervisors whose name contains a pattern, and with /servers the servers on each.
// The uptime from the boot time the host reported (the fake driver's hosts boot with it), as
// `uptime` prints it; at 2.88 in the show instead. A host that never said is 501, as nova.
TEST_F(ComputeTest, HypervisorUptimeFromTheReportedBootTime) {
  json hv = get_json(kV + "/os-hypervisors", admin_)["hypervisors"][0];
  const std::string id = std::to_string(hv["id"].get<int64_t>());
  const std::string name = hv["hypervisor_hostname"];
  // The fake driver's hosts booted when it started, a moment ago.
  EXPECT_TRUE(std::regex_match(
      get_json(kV + "/os-hypervisors/" + id + "/uptime", admin_)["hypervisor"]["uptime"]
          .get<std::string>(),
      std::regex(R"( \d\d:\d\d:\d\d up [01] min)")));
  ASSERT_TRUE(store_
                  ->record_host_boot(name, std::chrono::system_clock::now() -
                                               std::chrono::hours(24 * 3 + 2) -
                                               std::chrono::minutes(5) - std::chrono::seconds(30))
                  .ok());
  json up = get_json(kV + "/os-hypervisors/" + id + "/uptime", admin_)["hypervisor"];
  EXPECT_EQ(up["hypervisor_hostname"], name);
  EXPECT_EQ(up["state"], "up");
  const std::string text = up["uptime"];
  EXPECT_TRUE(std::regex_match(text, std::regex(R"( \d\d:\d\d:\d\d up 3 days,  2:0[56])"))) << text;
  EXPECT_EQ(get(kV + "/os-hypervisors/" + id + "/uptime", alice_)->status, 403);
  EXPECT_EQ(get(kV + "/os-hypervisors/999999/uptime", admin_)->status, 404);

  // 2.88: in the show, and the old route is gone.
  auto at = [&](const std::string& path, const std::string& v) {
    return client_->Get(path.c_str(),
                        {{"X-Auth-Token", admin_}, {"OpenStack-API-Version", "compute " + v}});
  };
  auto shown = at(kV + "/os-hypervisors/" + hv["id"].dump(), "2.53");
  ASSERT_EQ(shown->status, 400);  // an integer id is no UUID at 2.53
  json uuid_list = json::parse(at(kV + "/os-hypervisors", "2.88")->body)["hypervisors"];
  std::string uuid;
  for (const auto& h : uuid_list) {
    if (h["hypervisor_hostname"] == name) uuid = h["id"];
  }
  auto show = at(kV + "/os-hypervisors/" + uuid, "2.88");
  ASSERT_EQ(show->status, 200) << show->body;
  EXPECT_TRUE(std::regex_match(json::parse(show->body)["hypervisor"]["uptime"].get<std::string>(),
                               std::regex(R"( \d\d:\d\d:\d\d up 3 days,  2:0[56])")));
  EXPECT_EQ(at(kV + "/os-hypervisors/" + uuid + "/uptime", "2.88")->status, 404);

  // Just booted: minutes only.
  ASSERT_TRUE(
      store_->record_host_boot(name, std::chrono::system_clock::now() - std::chrono::minutes(7))
          .ok());
  EXPECT_TRUE(std::regex_match(
      get_json(kV + "/os-hypervisors/" + id + "/uptime", admin_)["hypervisor"]["uptime"]
          .get<std::string>(),
      std::regex(R"( \d\d:\d\d:\d\d up [78] min)")));

  // A host whose agent never reported a boot time.
  store::ComputeHost quiet;
  quiet.name = "quiet";
  quiet.vcpus = 4;
  quiet.memory_mb = 4096;
  quiet.disk_gb = 10;
  ASSERT_TRUE(store_->upsert_compute_host(quiet).ok());
  const auto quiet_id = std::to_string(store_->get_compute_host("quiet")->id);
  auto r = get(kV + "/os-hypervisors/" + quiet_id + "/uptime", admin_);
  EXPECT_EQ(r->status, 501) << r->body;
}

TEST_F(ComputeTest, HypervisorSearchAndServersByNamePattern) {
  seed_aggregates();
  json found = get_json(kV + "/os-hypervisors/host3/search", admin_)["hypervisors"];
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["hypervisor_hostname"], "vmhost3");
  EXPECT_FALSE(found[0].contains("servers"));
  EXPECT_EQ(get_json(kV + "/os-hypervisors/vmhost/search", admin_)["hypervisors"].size(), 3u);
  EXPECT_EQ(get(kV + "/os-hypervisors/nosuch/search", admin_)->status, 404);
  EXPECT_EQ(get(kV + "/os-hypervisors/vmhost/search", alice_)->status, 403);

  const std::string id = boot(alice_, "on-gpu", "4");
  ASSERT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  json hv = get_json(kV + "/os-hypervisors/vmhost/servers", admin_)["hypervisors"];
  ASSERT_EQ(hv.size(), 3u);
  for (const auto& h : hv) {
    if (h["hypervisor_hostname"] == "vmhost3") {
      ASSERT_EQ(h["servers"].size(), 1u) << h.dump();
      EXPECT_EQ(h["servers"][0]["uuid"], id);
      EXPECT_EQ(h["servers"][0]["name"], "on-gpu");
    } else {
      EXPECT_FALSE(h.contains("servers")) << h.dump();
    }
  }
  EXPECT_EQ(get(kV + "/os-hypervisors/nosuch/servers", admin_)->status, 404);
}

TEST_F(ComputeTest, ServicesListAndDisable) {
  seed_aggregates();
  json services = get_json(kV + "/os-services", admin_)["services"];
  ASSERT_EQ(services.size(), 3u);
  EXPECT_EQ(services[0]["binary"], "nova-compute");
  EXPECT_EQ(services[0]["zone"], "Denver");
  EXPECT_EQ(services[0]["status"], "enabled");
  EXPECT_FALSE(services[0].contains("forced_down"));  // a 2.11 field; this is 2.1
  auto r =
      put(kV + "/os-services/disable-log-reason", admin_,
          R"({"host": "vmhost3", "binary": "nova-compute", "disabled_reason": "maintenance"})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(store_->get_compute_host("vmhost3")->enabled);
  // A disabled GPU host: the GPU boot fails and says why.
  json s = wait_built(boot(alice_, "g", "4"), alice_);
  EXPECT_EQ(s["status"], "ERROR");
  EXPECT_NE(s["fault"]["message"].get<std::string>().find("maintenance"), std::string::npos)
      << s["fault"].dump();
  EXPECT_EQ(
      put(kV + "/os-services/enable", admin_, R"({"host": "vmhost3", "binary": "nova-compute"})")
          ->status,
      200);
  EXPECT_TRUE(store_->get_compute_host("vmhost3")->enabled);
  EXPECT_EQ(
      put(kV + "/os-services/enable", admin_, R"({"host": "vmhost9", "binary": "nova-compute"})")
          ->status,
      404);
  EXPECT_EQ(
      put(kV + "/os-services/disable", alice_, R"({"host": "vmhost1", "binary": "nova-compute"})")
          ->status,
      403);
  EXPECT_TRUE(store_->get_compute_host("vmhost1")->enabled);
}

TEST_F(ComputeTest, AvailabilityZoneDetailIsAdminOnly) {
  seed_aggregates();
  json zones = get_json(kV + "/os-availability-zone/detail", admin_)["availabilityZoneInfo"];
  ASSERT_EQ(zones.size(), 1u);
  EXPECT_EQ(zones[0]["zoneName"], "Denver");
  EXPECT_TRUE(zones[0]["hosts"].contains("vmhost3"));
  EXPECT_EQ(get(kV + "/os-availability-zone/detail", alice_)->status, 403);
  EXPECT_TRUE(
      get_json(kV + "/os-availability-zone", rita_)["availabilityZoneInfo"][0]["hosts"].is_null());
}

TEST_F(ComputeTest, VersionDiscoveryAndMicroversions) {
  auto r = client_->Get("/compute/");
  ASSERT_EQ(r->status, 200);
  json v = json::parse(r->body)["versions"];
  EXPECT_EQ(v[1]["id"], "v2.1");
  EXPECT_EQ(v[1]["version"], "2." + std::to_string(kMaxComputeMinor));
  r = client_->Get("/compute/v2.1");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["version"]["min_version"], "2.1");
  // Every listed version's self link answers (nova's legacy v2.0 too).
  for (const auto& listed : v) {
    const std::string href = listed["links"][0]["href"];
    auto doc = client_->Get(href.substr(href.find("/compute")).c_str());
    ASSERT_EQ(doc->status, 200) << href;
    EXPECT_EQ(json::parse(doc->body)["version"]["id"], listed["id"]);
  }
  auto ok = client_->Get((kV + "/flavors").c_str(),
                         {{"X-Auth-Token", alice_}, {"X-OpenStack-Nova-API-Version", "2.1"}});
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->get_header_value("X-OpenStack-Nova-API-Version"), "2.1");
  auto too_new =
      client_->Get((kV + "/flavors").c_str(),
                   {{"X-Auth-Token", alice_}, {"OpenStack-API-Version", "compute 2.999"}});
  EXPECT_EQ(too_new->status, 406);
}

TEST_F(ComputeTest, KeypairsImportListShowDelete) {
  const std::string key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb3x1NhvGJfK1QyHk2zWfE3R0sXyYq1m1cQyQw2bY3t alice@lab";
  json k =
      post_ok(kV + "/os-keypairs", alice_, {{"keypair", {{"name", "lab"}, {"public_key", key}}}});
  EXPECT_EQ(k["keypair"]["fingerprint"].get<std::string>().rfind("SHA256:", 0), 0u);
  EXPECT_EQ(get_json(kV + "/os-keypairs", alice_)["keypairs"][0]["keypair"]["name"], "lab");
  EXPECT_EQ(get_json(kV + "/os-keypairs/lab", alice_)["keypair"]["public_key"], key);
  EXPECT_EQ(get(kV + "/os-keypairs/lab", bob_)->status, 404);  // keypairs are per user
  EXPECT_EQ(post(kV + "/os-keypairs", alice_,
                 json{{"keypair", {{"name", "lab"}, {"public_key", key}}}}.dump())
                ->status,
            409);
  EXPECT_EQ(
      post(kV + "/os-keypairs", alice_, R"({"keypair": {"name": "bad", "public_key": "nonsense"}})")
          ->status,
      400);
  EXPECT_EQ(post(kV + "/os-keypairs", alice_,
                 R"({"keypair": {"name": "x", "public_key": "y", "type": "z"}})")
                ->status,
            400);
  EXPECT_EQ(post(kV + "/os-keypairs", rita_,
                 json{{"keypair", {{"name", "r"}, {"public_key", key}}}}.dump())
                ->status,
            403);
  // A server may name the key.
  seed_aggregates();
  json body = {
      {"server",
       {{"name", "k"}, {"flavorRef", "2"}, {"imageRef", plain_image_id_}, {"key_name", "lab"}}}};
  json s = post_ok(kV + "/servers", alice_, body, 202);
  EXPECT_EQ(wait_built(s["server"]["id"], alice_)["key_name"], "lab");
  EXPECT_EQ(del(kV + "/os-keypairs/lab", alice_)->status, 202);
  EXPECT_EQ(del(kV + "/os-keypairs/lab", alice_)->status, 404);
  EXPECT_EQ(store_->list_keypairs(store_->find_user_by_name("alice", "default")->id)->size(), 0u);
}

// Below 2.92 nova generates the pair when no public key is given, and returns the private key
// once; openstacksdk's create_keypair relies on it. The public key stored is the private key's.
TEST_F(ComputeTest, KeypairWithoutPublicKeyIsGenerated) {
  json k = post_ok(kV + "/os-keypairs", alice_, {{"keypair", {{"name", "made"}}}});
  const std::string pem = k["keypair"]["private_key"];
  const std::string pub = k["keypair"]["public_key"];
  ASSERT_EQ(pem.rfind("-----BEGIN RSA PRIVATE KEY-----", 0), 0u) << pem;
  ASSERT_EQ(pub.rfind("ssh-rsa ", 0), 0u) << pub;
  EXPECT_FALSE(get_json(kV + "/os-keypairs/made", alice_)["keypair"].contains("private_key"));
  EXPECT_EQ(get_json(kV + "/os-keypairs/made", alice_)["keypair"]["public_key"], pub);

  // The modulus in the public line (ssh-rsa blob: type, e, n) is the private key's.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                                BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  ASSERT_TRUE(key);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 2048);
  BIGNUM* n = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(key.get(), "n", &n), 1);
  std::vector<unsigned char> want(static_cast<size_t>(BN_num_bytes(n)));
  BN_bn2bin(n, want.data());
  BN_free(n);
  const std::string b64 = pub.substr(8, pub.find(' ', 8) - 8);
  std::vector<unsigned char> blob(b64.size());
  size_t len = 0;
  ASSERT_EQ(sodium_base642bin(blob.data(), blob.size(), b64.data(), b64.size(), nullptr, &len,
                              nullptr, sodium_base64_VARIANT_ORIGINAL),
            0);
  blob.resize(len);
  std::vector<std::vector<unsigned char>> fields;
  for (size_t at = 0; at + 4 <= blob.size();) {
    const size_t n_len = (size_t{blob[at]} << 24) | (size_t{blob[at + 1]} << 16) |
                         (size_t{blob[at + 2]} << 8) | blob[at + 3];
    ASSERT_LE(at + 4 + n_len, blob.size());
    fields.emplace_back(blob.begin() + long(at + 4), blob.begin() + long(at + 4 + n_len));
    at += 4 + n_len;
  }
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(std::string(fields[0].begin(), fields[0].end()), "ssh-rsa");
  auto modulus = fields[2];
  if (!modulus.empty() && modulus[0] == 0) modulus.erase(modulus.begin());  // mpint's sign byte
  EXPECT_EQ(modulus, want);
}

// nova loads the key: a line whose data is not a key of its type is refused, naming why.
TEST_F(ComputeTest, InvalidPublicKeysAreRefused) {
  auto refused = [&](const std::string& key) {
    auto r = post(kV + "/os-keypairs", alice_,
                  json{{"keypair", {{"name", "bad"}, {"public_key", key}}}}.dump());
    EXPECT_EQ(r->status, 400) << key;
    return json::parse(r->body)["badRequest"]["message"].get<std::string>();
  };
  // An ed25519 blob under the ssh-rsa name.
  EXPECT_NE(refused("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGb3x1NhvGJfK1QyHk2zWfE3R0sXyYq1m1cQyQw2bY3t")
                .find("not a ssh-rsa key"),
            std::string::npos);
  // Cut short: the second field claims 32 bytes, 8 follow.
  EXPECT_NE(refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb3x1NhvGJf").find("truncated"),
            std::string::npos);
  EXPECT_NE(refused("ssh-ed25519 !!!").find("Keypair data is invalid"), std::string::npos);
  EXPECT_EQ(get(kV + "/os-keypairs/bad", alice_)->status, 404);
}

TEST_F(ComputeTest, LimitsCountOwnServers) {
  seed_aggregates();
  wait_built(boot(alice_, "a", "2"), alice_);
  json abs = get_json(kV + "/limits", rita_)["limits"]["absolute"];
  EXPECT_EQ(abs["totalInstancesUsed"], 1);
  EXPECT_EQ(abs["totalCoresUsed"], 1);
  EXPECT_EQ(abs["totalRAMUsed"], 2048);
  EXPECT_EQ(get_json(kV + "/limits", bob_)["limits"]["absolute"]["totalInstancesUsed"], 0);
}

}  // namespace
}  // namespace gpucloud::api::testing
