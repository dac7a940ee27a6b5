// Compute microversions 2.1 to 2.96: the version a request names selects nova's response shape
// and validation for it, route by route.
#include <thread>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

class MicroversionTest : public ComputeTest {
 protected:
  httplib::Headers at(const std::string& token, const std::string& version) {
    return {{"X-Auth-Token", token}, {"OpenStack-API-Version", "compute " + version}};
  }
  httplib::Result vpost(const std::string& path, const std::string& token, const std::string& v,
                        const json& body) {
    return client_->Post(path.c_str(), at(token, v), body.dump(), "application/json");
  }
  httplib::Result vdel(const std::string& path, const std::string& token, const std::string& v) {
    return client_->Delete(path.c_str(), at(token, v));
  }
  json server_at(const std::string& id, const std::string& token, const std::string& v) {
    auto r = vget(kV + "/servers/" + id, token, v);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    return r && r->status == 200 ? json::parse(r->body)["server"] : json();
  }
  // A plain ACTIVE server of alice's on flavor 1.
  std::string active_server(const std::string& name = "vm") {
    seed_aggregates();
    const std::string id = boot(alice_, name, "1");
    wait_built(id, alice_);
    return id;
  }
};

TEST_F(MicroversionTest, DiscoveryAdvertises296AndTheHeaderSelectsTheVersion) {
  auto r = get("/compute/v2.1/", "");
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["version"]["version"], "2.96");
  r = vget(kV + "/flavors", alice_, "latest");
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(r->get_header_value("OpenStack-API-Version"), "compute 2.96");
  r = vget(kV + "/flavors", alice_, "2.97");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 406);
  EXPECT_NE(r->body.find("2.97"), std::string::npos) << r->body;
  // The older header still works.
  r = client_->Get((kV + "/flavors").c_str(),
                   {{"X-Auth-Token", alice_}, {"X-OpenStack-Nova-API-Version", "2.55"}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(r->get_header_value("X-OpenStack-Nova-API-Version"), "2.55");
  EXPECT_TRUE(json::parse(r->body)["flavors"][0].contains("description"));
}

TEST_F(MicroversionTest, ServerFieldsAppearAtTheirVersions) {
  const std::string id = active_server();
  json s = server_at(id, alice_, "2.1");
  for (const char* k : {"locked", "description", "tags", "locked_reason", "server_groups",
                        "trusted_image_certificates", "pinned_availability_zone",
                        "OS-EXT-SRV-ATTR:hostname", "host_status"}) {
    EXPECT_FALSE(s.contains(k)) << k;
  }
  EXPECT_EQ(s["flavor"]["id"], "1");

  s = server_at(id, alice_, "2.96");
  EXPECT_EQ(s["locked"], false);
  EXPECT_TRUE(s["locked_reason"].is_null());
  EXPECT_TRUE(s["description"].is_null());
  EXPECT_EQ(s["tags"], json::array());
  EXPECT_EQ(s["server_groups"], json::array());
  EXPECT_TRUE(s.contains("trusted_image_certificates"));
  EXPECT_TRUE(s.contains("pinned_availability_zone"));
  // 2.47: the flavor embedded, with its extra specs.
  EXPECT_FALSE(s["flavor"].contains("id"));
  EXPECT_EQ(s["flavor"]["original_name"], "m1.tiny");
  EXPECT_EQ(s["flavor"]["ram"], 512);
  EXPECT_EQ(s["flavor"]["extra_specs"]["gpu"], "false");
  // 2.90: the hostname for everyone; not for a member below it; admins from 2.3.
  EXPECT_EQ(s["OS-EXT-SRV-ATTR:hostname"], "vm");
  EXPECT_FALSE(server_at(id, alice_, "2.89").contains("OS-EXT-SRV-ATTR:hostname"));
  EXPECT_FALSE(s.contains("OS-EXT-SRV-ATTR:host")) << "admin only";
  json a = server_at(id, admin_, "2.16");
  EXPECT_EQ(a["OS-EXT-SRV-ATTR:hostname"], "vm");
  EXPECT_EQ(a["OS-EXT-SRV-ATTR:launch_index"], 0);
  EXPECT_EQ(a["host_status"], "UP");
  EXPECT_FALSE(server_at(id, admin_, "2.2").contains("OS-EXT-SRV-ATTR:hostname"));

  // List detail carries tags but not server_groups (nova shows those on one server only).
  auto r = vget(kV + "/servers/detail", alice_, "2.71");
  ASSERT_TRUE(r && r->status == 200);
  json listed = json::parse(r->body)["servers"][0];
  EXPECT_TRUE(listed.contains("tags"));
  EXPECT_FALSE(listed.contains("server_groups"));
}

TEST_F(MicroversionTest, CreateTakesTheFieldsOfItsVersion) {
  seed_aggregates();
  json s = {{"name", "Web Server_1"},
            {"flavorRef", "1"},
            {"imageRef", plain_image_id_},
            {"availability_zone", "Denver"}};
  // 2.37: networks is required: "auto" (the one guest network), "none" or a list.
  auto r = vpost(kV + "/servers", alice_, "2.37", {{"server", s}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("networks"), std::string::npos) << r->body;
  s["networks"] = "some";
  EXPECT_EQ(vpost(kV + "/servers", alice_, "2.37", {{"server", s}})->status, 400);
  s["networks"] = "auto";
  EXPECT_EQ(vpost(kV + "/servers", alice_, "2.36", {{"server", s}})->status, 400)
      << "a string is not a list before 2.37";
  // Fields of later versions are unexpected before them.
  json d = s;
  d["description"] = "web";
  EXPECT_EQ(vpost(kV + "/servers", alice_, "2.18", {{"server", d}})->status, 400);
  d["personality"] = json::array();
  EXPECT_EQ(vpost(kV + "/servers", alice_, "2.57", {{"server", d}})->status, 400);
  d.erase("personality");
  d["tags"] = {"a", "b,c"};
  EXPECT_EQ(vpost(kV + "/servers", alice_, "2.90", {{"server", d}})->status, 400);
  d["tags"] = {"a", "b"};
  d["hostname"] = "-bad-";
  EXPECT_EQ(vpost(kV + "/servers", alice_, "2.90", {{"server", d}})->status, 400);
  d["hostname"] = "web01";
  r = vpost(kV + "/servers", alice_, "2.90", {{"server", d}});
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  const std::string id = json::parse(r->body)["server"]["id"];
  json shown = server_at(id, alice_, "2.90");
  EXPECT_EQ(shown["description"], "web");
  EXPECT_EQ(shown["tags"], json({"a", "b"}));
  EXPECT_EQ(shown["OS-EXT-SRV-ATTR:hostname"], "web01");
  // Without 2.90's hostname, nova's sanitized display name.
  r = vpost(kV + "/servers", alice_, "2.37", {{"server", s}});
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
  EXPECT_EQ(
      server_at(json::parse(r->body)["server"]["id"], admin_, "2.3")["OS-EXT-SRV-ATTR:hostname"],
      "web-server-1");
}

TEST_F(MicroversionTest, PutRenamesAndAnswersNovasViewOfTheVersion) {
  const std::string id = active_server();
  auto r =
      vput(kV + "/servers/" + id, alice_, "2.19",
           {{"server", {{"name", "renamed"}, {"description", "d1"}, {"accessIPv4", "10.0.0.9"}}}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  json s = json::parse(r->body)["server"];
  EXPECT_EQ(s["name"], "renamed");
  EXPECT_EQ(s["description"], "d1");
  EXPECT_EQ(s["accessIPv4"], "10.0.0.9");
  EXPECT_FALSE(s.contains("OS-EXT-STS:vm_state")) << "below 2.75 the answer has core fields only";
  json full = server_at(id, alice_, "2.19");
  EXPECT_EQ(full["name"], "renamed");
  EXPECT_EQ(full["status"], "ACTIVE") << "the rename kept the state";
  r = vput(kV + "/servers/" + id, alice_, "2.75", {{"server", {{"name", "again"}}}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_TRUE(json::parse(r->body)["server"].contains("OS-EXT-STS:vm_state"));
  // Validation names the field; other projects' servers are absent.
  EXPECT_EQ(
      vput(kV + "/servers/" + id, alice_, "2.1", {{"server", {{"description", "x"}}}})->status,
      400);
  EXPECT_EQ(vput(kV + "/servers/" + id, alice_, "2.1", {{"server", {{"accessIPv4", "x"}}}})->status,
            400);
  EXPECT_EQ(vput(kV + "/servers/" + id, alice_, "2.1", {{"server", {{"name", ""}}}})->status, 400);
  EXPECT_EQ(vput(kV + "/servers/" + id, bob_, "2.1", {{"server", {{"name", "mine"}}}})->status,
            404);
  EXPECT_EQ(server_at(id, alice_, "2.1")["name"], "again");
}

// Adding a tag is a read-modify-write of the server's list: concurrent adds must all land (a
// compare-and-set retried on conflict), not overwrite each other.
TEST_F(MicroversionTest, ConcurrentTagAddsAreAllKept) {
  const std::string id = active_server();
  const std::string tags = kV + "/servers/" + id + "/tags";
  constexpr int kThreads = 8;
  std::vector<int> statuses(kThreads, 0);
  std::vector<std::thread> threads;
  const int port = server_->port();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(std::chrono::seconds(60));
      auto r = c.Put((tags + "/t" + std::to_string(t)).c_str(), at(alice_, "2.26"), "", "");
      statuses[t] = r ? r->status : -1;
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(statuses[t], 201) << "tag t" << t;
  const json got = json::parse(vget(tags, alice_, "2.26")->body)["tags"];
  EXPECT_EQ(got.size(), static_cast<size_t>(kThreads)) << got.dump();
}

TEST_F(MicroversionTest, ServerTagsFrom226) {
  const std::string id = active_server();
  const std::string tags = kV + "/servers/" + id + "/tags";
  EXPECT_EQ(vget(tags, alice_, "2.25")->status, 404);
  auto r = vput(tags + "/blue", alice_, "2.26", json());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_NE(r->get_header_value("Location").find("/tags/blue"), std::string::npos);
  EXPECT_EQ(vput(tags + "/blue", alice_, "2.26", json())->status, 204);
  EXPECT_EQ(vget(tags + "/blue", alice_, "2.26")->status, 204);
  EXPECT_EQ(vget(tags + "/red", alice_, "2.26")->status, 404);
  r = vput(tags, alice_, "2.26", {{"tags", {"red", "green"}}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["tags"], json({"red", "green"}));
  EXPECT_EQ(json::parse(vget(tags, alice_, "2.26")->body)["tags"], json({"red", "green"}));
  // List filters.
  auto ids = [&](const std::string& query) {
    json out = json::array();
    auto l = vget(kV + "/servers?" + query, alice_, "2.26");
    if (!l || l->status != 200) {
      ADD_FAILURE() << query << ": " << (l ? l->body : "no answer");
      return out;
    }
    const json servers = json::parse(l->body)["servers"];
    for (const auto& s : servers) out.push_back(s["id"]);
    return out;
  };
  EXPECT_EQ(ids("tags=red,green"), json({id}));
  EXPECT_EQ(ids("tags=red,blue"), json::array());
  EXPECT_EQ(ids("tags-any=blue,green"), json({id}));
  EXPECT_EQ(ids("not-tags-any=red"), json::array());
  EXPECT_EQ(vdel(tags + "/red", alice_, "2.26")->status, 204);
  EXPECT_EQ(vdel(tags + "/red", alice_, "2.26")->status, 404);
  EXPECT_EQ(vput(tags + "/a,b", alice_, "2.26", json())->status, 400);
  json many = json::array();
  for (int k = 0; k < 51; ++k) many.push_back("t" + std::to_string(k));
  EXPECT_EQ(vput(tags, alice_, "2.26", {{"tags", many}})->status, 400);
  EXPECT_EQ(json::parse(vget(tags, alice_, "2.26")->body)["tags"], json({"green"}));
  EXPECT_EQ(vdel(tags, alice_, "2.26")->status, 204);
  EXPECT_EQ(json::parse(vget(tags, alice_, "2.26")->body)["tags"], json::array());
  EXPECT_EQ(vget(tags, bob_, "2.26")->status, 404);
}

TEST_F(MicroversionTest, LockReasonAndLockedFilterFrom273) {
  const std::string id = active_server();
  const std::string action = kV + "/servers/" + id + "/action";
  EXPECT_EQ(vpost(action, alice_, "2.72", {{"lock", {{"locked_reason", "x"}}}})->status, 400);
  EXPECT_EQ(vpost(action, alice_, "2.73", {{"lock", {{"locked_reason", "maintenance"}}}})->status,
            202);
  json s = server_at(id, alice_, "2.73");
  EXPECT_EQ(s["locked"], true);
  EXPECT_EQ(s["locked_reason"], "maintenance");
  auto r = vget(kV + "/servers?locked=true", alice_, "2.73");
  EXPECT_EQ(json::parse(r->body)["servers"].size(), 1u);
  r = vget(kV + "/servers?locked=false", alice_, "2.73");
  EXPECT_EQ(json::parse(r->body)["servers"].size(), 0u);
  EXPECT_EQ(vget(kV + "/servers?locked=maybe", alice_, "2.73")->status, 400);
  EXPECT_EQ(vpost(action, alice_, "2.73", {{"unlock", nullptr}})->status, 202);
  s = server_at(id, alice_, "2.73");
  EXPECT_EQ(s["locked"], false);
  EXPECT_TRUE(s["locked_reason"].is_null());
}

TEST_F(MicroversionTest, UnknownStatusFilterIsA400From238) {
  EXPECT_EQ(vget(kV + "/servers?status=NOPE", alice_, "2.37")->status, 200);
  EXPECT_EQ(vget(kV + "/servers?status=NOPE", alice_, "2.38")->status, 400);
  EXPECT_EQ(vget(kV + "/servers?status=active", alice_, "2.38")->status, 200);
}

// 2.86: the keys nova's registry knows are checked by kind and limits, unknown keys in nova's
// namespaces are refused, anyone else's namespace passes; below 2.86 only gpucloud's own checks.
// networks "none" boots a guest without a NIC: no address in the server, none at the driver;
// "auto" gets the host's guest network.
TEST_F(MicroversionTest, NetworksNoneBootsAGuestWithoutAnAddress) {
  seed_aggregates();
  std::map<std::string, std::string> ids;
  for (const char* nets : {"none", "auto"}) {
    json s = {{"name", std::string("net-") + nets},
              {"flavorRef", "1"},
              {"imageRef", plain_image_id_},
              {"availability_zone", "Denver"},
              {"networks", nets}};
    auto r = vpost(kV + "/servers", alice_, "2.37", {{"server", s}});
    ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "");
    ids[nets] = json::parse(r->body)["server"]["id"];
  }
  for (const auto& [nets, id] : ids) {
    json s = wait_built(id, admin_);
    ASSERT_EQ(s["status"], "ACTIVE") << s.dump();
    auto guest = driver_->guest(s["OS-EXT-SRV-ATTR:host"], id);
    ASSERT_TRUE(guest.ok());
    if (nets == "none") {
      EXPECT_EQ(s["addresses"], json::object()) << s.dump();
      EXPECT_EQ(guest->ip_address, "");
    } else {
      EXPECT_EQ(s["addresses"].size(), 1u) << s.dump();
      EXPECT_NE(guest->ip_address, "");
    }
  }
}

TEST_F(MicroversionTest, ExtraSpecValidationFrom286) {
  const std::string specs = kV + "/flavors/1/os-extra_specs";
  auto set = [&](const std::string& v, const json& body) {
    auto r = vpost(specs, admin_, v, {{"extra_specs", body}});
    return r ? r->status : -1;
  };
  EXPECT_EQ(set("2.85", {{"hw:cpu_polcy", "dedicated"}}), 200);
  auto r = vpost(specs, admin_, "2.86", {{"extra_specs", {{"hw:cpu_polcy", "dedicated"}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("'hw:cpu_polcy' does not appear to be a valid extra spec"),
            std::string::npos)
      << r->body;
  r = vpost(specs, admin_, "2.86", {{"extra_specs", {{"hw:cpu_policy", "fast"}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(
      r->body.find("extra spec 'hw:cpu_policy': 'fast' is not one of: dedicated, shared, mixed"),
      std::string::npos)
      << r->body;
  EXPECT_EQ(set("2.86", {{"hw:numa_nodes", "0"}}), 400);    // min 1
  EXPECT_EQ(set("2.86", {{"hw:numa_nodes", "two"}}), 400);  // not an integer
  EXPECT_EQ(set("2.86", {{"hw:boot_menu", "maybe"}}), 400);
  EXPECT_EQ(set("2.86", {{"hw:mem_page_size", "huge"}}), 400);  // format
  EXPECT_EQ(set("2.86", {{"trait:NOT_A_TRAIT", "required"}}), 400);
  EXPECT_EQ(set("2.86", {{"resources:VGPU", "many"}}), 400);
  EXPECT_EQ(set("2.86", {{"hw:cpu_policy", "dedicated"},
                         {"hw:numa_nodes", "2"},
                         {"hw:boot_menu", "Yes"},
                         {"hw:mem_page_size", "2MB"},
                         {"hw:numa_cpus.0", "0-3,^2"},
                         {"resources:VGPU", "1"},
                         {"trait:CUSTOM_FAST_NVME", "required"},
                         {"aggregate_instance_extra_specs:gpu", "true"},
                         {"pci_passthrough:alias", "K2_Grid:1"},
                         {"mycloud:anything", "goes"},
                         {"no_namespace", "either"}}),
            200);
  // The single-key PUT is checked the same way.
  EXPECT_EQ(vput(specs + "/hw:numa_nodes", admin_, "2.86", {{"hw:numa_nodes", "-1"}})->status, 400);
  EXPECT_EQ(vput(specs + "/hw:numa_nodes", admin_, "2.86", {{"hw:numa_nodes", "1"}})->status, 200);
  // A refused request stored nothing of itself.
  const json now = json::parse(vget(specs, admin_, "2.86")->body)["extra_specs"];
  EXPECT_FALSE(now.contains("trait:NOT_A_TRAIT")) << now.dump();
  EXPECT_EQ(now["hw:numa_nodes"], "1");
}

TEST_F(MicroversionTest, FlavorDescriptionExtraSpecsAndSwap) {
  post_ok(kV + "/flavors/1/os-extra_specs", admin_, {{"extra_specs", {{"gpu", "false"}}}});
  EXPECT_EQ(vput(kV + "/flavors/1", admin_, "2.54", {{"flavor", {{"description", "x"}}}})->status,
            404);
  EXPECT_EQ(vput(kV + "/flavors/1", alice_, "2.55", {{"flavor", {{"description", "x"}}}})->status,
            403);
  EXPECT_EQ(vput(kV + "/flavors/1", admin_, "2.55", {{"flavor", {{"name", "x"}}}})->status, 400);
  auto r = vput(kV + "/flavors/1", admin_, "2.55", {{"flavor", {{"description", "tiny one"}}}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["flavor"]["description"], "tiny one");
  json f = json::parse(vget(kV + "/flavors/1", alice_, "2.61")->body)["flavor"];
  EXPECT_EQ(f["description"], "tiny one");
  EXPECT_EQ(f["extra_specs"]["gpu"], "false");
  EXPECT_EQ(f["swap"], "");
  f = json::parse(vget(kV + "/flavors/1", alice_, "2.75")->body)["flavor"];
  EXPECT_EQ(f["swap"], 0);
  f = json::parse(vget(kV + "/flavors/1", alice_, "2.54")->body)["flavor"];
  EXPECT_FALSE(f.contains("description"));
  EXPECT_FALSE(f.contains("extra_specs"));
  // Brief lists show the description too; 2.2's 'null' for none.
  json brief = json::parse(vget(kV + "/flavors", alice_, "2.55")->body)["flavors"];
  for (const auto& b : brief) {
    EXPECT_TRUE(b.contains("description"));
    if (b["id"] == "2") {
      EXPECT_TRUE(b["description"].is_null());
    }
  }
  // Creating one with a description.
  r = vpost(
      kV + "/flavors", admin_, "2.55",
      {{"flavor", {{"name", "d"}, {"ram", 64}, {"vcpus", 1}, {"disk", 0}, {"description", "x"}}}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["flavor"]["description"], "x");
}

TEST_F(MicroversionTest, KeypairsByVersion) {
  const std::string key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b";
  auto r = vpost(kV + "/os-keypairs", alice_, "2.2",
                 {{"keypair", {{"name", "k1"}, {"public_key", key}, {"type", "ssh"}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(json::parse(r->body)["keypair"]["type"], "ssh");
  EXPECT_EQ(vpost(kV + "/os-keypairs", alice_, "2.1",
                  {{"keypair", {{"name", "k2"}, {"public_key", key}, {"type", "ssh"}}}})
                ->status,
            400);
  auto list = json::parse(vget(kV + "/os-keypairs", alice_, "2.10")->body)["keypairs"];
  ASSERT_EQ(list.size(), 1u);
  // 2.92: a public key is required.
  EXPECT_EQ(vpost(kV + "/os-keypairs", alice_, "2.92", {{"keypair", {{"name", "gen"}}}})->status,
            400);
  EXPECT_EQ(vpost(kV + "/os-keypairs", alice_, "2.91", {{"keypair", {{"name", "gen"}}}})->status,
            201);
  EXPECT_EQ(vpost(kV + "/os-keypairs", alice_, "2.91",
                  {{"keypair", {{"name", "a@b"}, {"public_key", key}}}})
                ->status,
            400);
  EXPECT_EQ(vpost(kV + "/os-keypairs", alice_, "2.92",
                  {{"keypair", {{"name", "a@b"}, {"public_key", key}}}})
                ->status,
            201);
  // 2.35: pages by name.
  r = vget(kV + "/os-keypairs?limit=1", alice_, "2.35");
  ASSERT_TRUE(r && r->status == 200);
  json page = json::parse(r->body);
  ASSERT_EQ(page["keypairs"].size(), 1u);
  EXPECT_EQ(page["keypairs"][0]["keypair"]["name"], "a@b");
  ASSERT_TRUE(page.contains("keypairs_links"));
  r = vget(kV + "/os-keypairs?limit=5&marker=a@b", alice_, "2.35");
  EXPECT_EQ(json::parse(r->body)["keypairs"].size(), 2u);
  EXPECT_EQ(vdel(kV + "/os-keypairs/k1", alice_, "2.2")->status, 204);
  EXPECT_EQ(vdel(kV + "/os-keypairs/gen", alice_, "2.1")->status, 202);
  // 2.10: an admin acts for another user; a member may not.
  EXPECT_EQ(vget(kV + "/os-keypairs?user_id=someone", alice_, "2.10")->status, 403);
  r = vpost(kV + "/os-keypairs", admin_, "2.10",
            {{"keypair", {{"name", "for-someone"}, {"public_key", key}, {"user_id", "someone"}}}});
  ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "");
  json theirs = json::parse(vget(kV + "/os-keypairs?user_id=someone", admin_, "2.10")->body);
  ASSERT_EQ(theirs["keypairs"].size(), 1u);
  EXPECT_EQ(theirs["keypairs"][0]["keypair"]["name"], "for-someone");
  EXPECT_EQ(json::parse(vget(kV + "/os-keypairs", admin_, "2.10")->body)["keypairs"].size(), 0u);
}

TEST_F(MicroversionTest, HypervisorsAndServicesByUuidFrom253) {
  json old = json::parse(vget(kV + "/os-hypervisors/detail", admin_, "2.27")->body)["hypervisors"];
  ASSERT_FALSE(old.empty());
  EXPECT_TRUE(old[0]["id"].is_number());
  EXPECT_TRUE(old[0]["cpu_info"].is_string());
  json now = json::parse(vget(kV + "/os-hypervisors/detail", admin_, "2.53")->body)["hypervisors"];
  ASSERT_EQ(now.size(), old.size());
  EXPECT_TRUE(now[0]["id"].is_string());
  EXPECT_TRUE(now[0]["cpu_info"].is_object());
  const std::string uuid = now[0]["id"];
  auto r = vget(kV + "/os-hypervisors/" + uuid, admin_, "2.53");
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(
      vget(kV + "/os-hypervisors/" + std::to_string(old[0]["id"].get<int64_t>()), admin_, "2.53")
          ->status,
      400);
  EXPECT_EQ(vget(kV + "/os-hypervisors/vmhost/search", admin_, "2.53")->status, 404);
  EXPECT_EQ(vget(kV + "/os-hypervisors/vmhost/search", admin_, "2.52")->status, 200);
  r = vget(kV + "/os-hypervisors?hypervisor_hostname_pattern=vmhost3&with_servers=true", admin_,
           "2.53");
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["hypervisors"].size(), 1u);
  EXPECT_EQ(vget(kV + "/os-hypervisors?hypervisor_hostname_pattern=nohost", admin_, "2.53")->status,
            404);
  // 2.33: pages.
  r = vget(kV + "/os-hypervisors?limit=1", admin_, "2.33");
  json page = json::parse(r->body);
  EXPECT_EQ(page["hypervisors"].size(), 1u);
  EXPECT_TRUE(page.contains("hypervisors_links"));
  // 2.88: no resource figures, no statistics, uptime in show.
  json h = json::parse(vget(kV + "/os-hypervisors/" + uuid, admin_, "2.88")->body)["hypervisor"];
  EXPECT_FALSE(h.contains("vcpus"));
  EXPECT_TRUE(h.contains("uptime"));
  EXPECT_EQ(vget(kV + "/os-hypervisors/statistics", admin_, "2.88")->status, 404);
  EXPECT_EQ(vget(kV + "/os-hypervisors/statistics", admin_, "2.87")->status, 200);

  json services = json::parse(vget(kV + "/os-services", admin_, "2.53")->body)["services"];
  ASSERT_FALSE(services.empty());
  const std::string sid = services[0]["id"];
  const std::string host = services[0]["host"];
  r = vput(kV + "/os-services/" + sid, admin_, "2.53",
           {{"status", "disabled"}, {"disabled_reason", "maintenance"}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["service"]["status"], "disabled");
  EXPECT_FALSE(store_->get_compute_host(host)->enabled);
  EXPECT_EQ(vput(kV + "/os-services/" + sid, admin_, "2.53",
                 {{"status", "enabled"}, {"disabled_reason", "x"}})
                ->status,
            400);
  EXPECT_EQ(vput(kV + "/os-services/" + sid, admin_, "2.53", json::object())->status, 400);
  EXPECT_EQ(
      vput(kV + "/os-services/enable", admin_, "2.53", {{"host", host}, {"binary", "nova-compute"}})
          ->status,
      400);
  r = vput(kV + "/os-services/" + sid, admin_, "2.53",
           {{"status", "enabled"}, {"forced_down", true}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_TRUE(store_->get_compute_host(host)->enabled);
  EXPECT_TRUE(store_->get_compute_host(host)->forced_down);
}

TEST_F(MicroversionTest, QuotasLimitsAndRemovedProxies) {
  auto show = [&](const std::string& v) {
    auto r = vget(kV + "/os-quota-class-sets/default", admin_, v);
    EXPECT_TRUE(r && r->status == 200);
    return json::parse(r->body)["quota_class_set"];
  };
  EXPECT_TRUE(show("2.49").contains("floating_ips"));
  EXPECT_FALSE(show("2.49").contains("server_groups"));
  EXPECT_FALSE(show("2.50").contains("floating_ips"));
  EXPECT_TRUE(show("2.50").contains("server_groups"));
  EXPECT_TRUE(show("2.56").contains("injected_files"));
  EXPECT_FALSE(show("2.57").contains("injected_files"));
  EXPECT_EQ(vput(kV + "/os-quota-class-sets/default", admin_, "2.50",
                 {{"quota_class_set", {{"floating_ips", 3}}}})
                ->status,
            400);
  json limits = json::parse(vget(kV + "/limits", alice_, "2.57")->body)["limits"]["absolute"];
  for (const char* k : {"maxTotalFloatingIps", "maxImageMeta", "maxPersonality"}) {
    EXPECT_FALSE(limits.contains(k)) << k;
  }
  limits = json::parse(vget(kV + "/limits", alice_, "2.1")->body)["limits"]["absolute"];
  EXPECT_TRUE(limits.contains("maxPersonality"));
  EXPECT_EQ(vget(kV + "/images", alice_, "2.35")->status, 200);
  EXPECT_EQ(vget(kV + "/images", alice_, "2.36")->status, 404);
  EXPECT_EQ(vget(kV + "/os-hosts", admin_, "2.42")->status, 200);
  EXPECT_EQ(vget(kV + "/os-hosts", admin_, "2.43")->status, 404);
  // 2.41: aggregates carry their uuid.
  auto r = vpost(kV + "/os-aggregates", admin_, "2.41", {{"aggregate", {{"name", "agg"}}}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["aggregate"]["uuid"].get<std::string>().size(), 36u);
  r = vget(kV + "/os-aggregates", admin_, "2.40");
  EXPECT_FALSE(json::parse(r->body)["aggregates"][0].contains("uuid"));
}

}  // namespace
}  // namespace gpucloud::api::testing
