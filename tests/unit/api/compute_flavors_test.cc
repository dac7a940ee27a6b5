#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

TEST_F(ComputeTest, FlavorsListDetailAndShowInNovaShape) {
  json list = get_json(kV + "/flavors", rita_)["flavors"];
  ASSERT_EQ(list.size(), 5u);
  EXPECT_EQ(list[0]["id"], "1");
  EXPECT_FALSE(list[0].contains("ram"));
  json detail = get_json(kV + "/flavors/detail", rita_)["flavors"];
  EXPECT_EQ(detail[3]["name"], "m1.large");
  json f = get_json(kV + "/flavors/4", alice_)["flavor"];
  EXPECT_EQ(f["ram"], 8192);
  EXPECT_EQ(f["vcpus"], 4);
  EXPECT_EQ(f["disk"], 80);
  EXPECT_EQ(f["swap"], "");
  EXPECT_EQ(f["os-flavor-access:is_public"], true);
  EXPECT_EQ(f["OS-FLV-EXT-DATA:ephemeral"], 0);
  EXPECT_EQ(f["links"][0]["href"], server_->base_url() + "/compute/v2.1/flavors/4");
  auto r = get(kV + "/flavors/42", alice_);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["itemNotFound"]["message"], "Flavor 42 could not be found.");
  EXPECT_EQ(get(kV + "/flavors", "")->status, 401);
}

TEST_F(ComputeTest, AdminCreatesAndDeletesFlavor) {
  json f = post_ok(kV + "/flavors", admin_,
                   {{"flavor",
                     {{"name", "gpu.big"},
                      {"ram", 4096},
                      {"vcpus", 2},
                      {"disk", 40},
                      {"id", "gpu1"},
                      {"swap", 512}}}});
  EXPECT_EQ(f["flavor"]["id"], "gpu1");
  EXPECT_EQ(f["flavor"]["swap"], 512);
  EXPECT_EQ(store_->get_flavor("gpu1")->memory_mb, 4096);
  // Duplicates conflict; a generated id is a UUID.
  auto r = post(kV + "/flavors", admin_,
                R"({"flavor": {"name": "gpu.big", "ram": 1, "vcpus": 1, "disk": 0}})");
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("Flavor with name gpu.big already exists."), std::string::npos);
  f = post_ok(kV + "/flavors", admin_,
              {{"flavor", {{"name", "auto"}, {"ram", "256"}, {"vcpus", 1}, {"disk", 0}}}});
  EXPECT_EQ(f["flavor"]["id"].get<std::string>().size(), 36u);
  EXPECT_EQ(del(kV + "/flavors/gpu1", admin_)->status, 202);
  EXPECT_FALSE(store_->get_flavor("gpu1").ok());
  EXPECT_EQ(del(kV + "/flavors/gpu1", admin_)->status, 404);
}

TEST_F(ComputeTest, FlavorWritesAreRefusedAndChangeNothing) {
  const std::string before = snapshot();
  const std::string good = R"({"flavor": {"name": "x", "ram": 512, "vcpus": 1, "disk": 1}})";
  EXPECT_EQ(post(kV + "/flavors", alice_, good)->status, 403);
  EXPECT_EQ(post(kV + "/flavors", rita_, good)->status, 403);
  EXPECT_EQ(post(kV + "/flavors", "", good)->status, 401);
  EXPECT_EQ(post(kV + "/flavors", admin_, "{\"flavor\": ")->status, 400);
  auto r = post(kV + "/flavors", admin_,
                R"({"flavor": {"name": "x", "ram": 512, "vcpus": 1, "disk": 1, "gpus": 2}})");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("'gpus' was unexpected"), std::string::npos);
  EXPECT_EQ(
      post(kV + "/flavors", admin_, R"({"flavor": {"name": "x", "ram": 0, "vcpus": 1, "disk": 1}})")
          ->status,
      400);
  EXPECT_EQ(
      post(kV + "/flavors", admin_, R"({"flavor": {"name": "x", "vcpus": 1, "disk": 1}})")->status,
      400);
  EXPECT_EQ(del(kV + "/flavors/1", alice_)->status, 403);
  EXPECT_EQ(post(kV + "/flavors/1/os-extra_specs", rita_, R"({"extra_specs": {"a": "b"}})")->status,
            403);
  EXPECT_EQ(del(kV + "/flavors/1/os-extra_specs/gpu", alice_)->status, 403);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ComputeTest, ExtraSpecsSetShowUpdateUnset) {
  json r = post_ok(
      kV + "/flavors/4/os-extra_specs", admin_,
      {{"extra_specs",
        {{"gpu", "true"}, {"hw_video:ram_max_mb", 64}, {"pci_passthrough:alias", "K2_Grid:1"}}}});
  EXPECT_EQ(r["extra_specs"]["hw_video:ram_max_mb"], "64");
  json specs = get_json(kV + "/flavors/4/os-extra_specs", alice_)["extra_specs"];
  EXPECT_EQ(specs, (json{{"gpu", "true"},
                         {"hw_video:ram_max_mb", "64"},
                         {"pci_passthrough:alias", "K2_Grid:1"}}));
  EXPECT_EQ(get_json(kV + "/flavors/4/os-extra_specs/gpu", alice_), (json{{"gpu", "true"}}));
  auto put_r = put(kV + "/flavors/4/os-extra_specs/gpu", admin_, R"({"gpu": "false"})");
  EXPECT_EQ(put_r->status, 200);
  EXPECT_EQ(store_->get_flavor("4")->extra_specs.at("gpu"), "false");
  EXPECT_EQ(put(kV + "/flavors/4/os-extra_specs/gpu", admin_, R"({"cpu": "false"})")->status, 400);
  EXPECT_EQ(del(kV + "/flavors/4/os-extra_specs/gpu", admin_)->status, 200);
  EXPECT_EQ(store_->get_flavor("4")->extra_specs.count("gpu"), 0u);
  auto missing = get(kV + "/flavors/4/os-extra_specs/gpu", admin_);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("Flavor 4 has no extra specs with key gpu."), std::string::npos);
  EXPECT_EQ(del(kV + "/flavors/4/os-extra_specs/gpu", admin_)->status, 404);
  EXPECT_EQ(
      post(kV + "/flavors/77/os-extra_specs", admin_, R"({"extra_specs": {"a": "b"}})")->status,
      404);
}

TEST_F(ComputeTest, InvalidExtraSpecsAre400NamingTheKeyAndChangeNothing) {
  const std::string before = snapshot();
  auto check = [&](const json& specs, const std::string& message) {
    auto r = post(kV + "/flavors/4/os-extra_specs", admin_, json{{"extra_specs", specs}}.dump());
    ASSERT_EQ(r->status, 400) << r->body;
    EXPECT_EQ(json::parse(r->body)["badRequest"]["message"], message);
  };
  check({{"gpu", "true"}, {"pci_passthrough:alias", "K1_Grid:1"}},
        "Validation failed; extra spec 'pci_passthrough:alias': PCI alias K1_Grid is not defined");
  check({{"pci_passthrough:alias", "K2_Grid"}},
        "Validation failed; extra spec 'pci_passthrough:alias': 'K2_Grid' is not of the format "
        "'[^:]+:\\d+(,[^:]+:\\d+)*'.");
  check(
      {{"hw_video:ram_max_mb", "lots"}},
      "Validation failed; extra spec 'hw_video:ram_max_mb': 'lots' is not a valid integer value.");
  check({{"hw_video:ram_max_mb", "-1"}},
        "Validation failed; extra spec 'hw_video:ram_max_mb': '-1' is less than the min value of "
        "'0'.");
  auto r = put(kV + "/flavors/4/os-extra_specs/hw_video:ram_max_mb", admin_,
               R"({"hw_video:ram_max_mb": "x"})");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(post(kV + "/flavors/4/os-extra_specs", admin_, R"({"extra_specs": {"a": {}}})")->status,
            400);
  EXPECT_EQ(post(kV + "/flavors/4/os-extra_specs", admin_, R"({"specs": {}})")->status, 400);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ComputeTest, PrivateFlavorAccess) {
  post_ok(kV + "/flavors", admin_,
          {{"flavor",
            {{"name", "private"},
             {"ram", 512},
             {"vcpus", 1},
             {"disk", 1},
             {"id", "p1"},
             {"os-flavor-access:is_public", false}}}});
  EXPECT_EQ(get(kV + "/flavors/p1", alice_)->status, 404);
  EXPECT_EQ(get_json(kV + "/flavors", alice_)["flavors"].size(), 5u);
  const std::string demo = store_->find_project_by_name("demo", "default")->id;
  json acc = post_ok(kV + "/flavors/p1/action", admin_, {{"addTenantAccess", {{"tenant", demo}}}});
  EXPECT_EQ(acc["flavor_access"][0]["tenant_id"], demo);
  EXPECT_EQ(
      post(kV + "/flavors/p1/action", admin_, json{{"addTenantAccess", {{"tenant", demo}}}}.dump())
          ->status,
      409);
  EXPECT_EQ(get(kV + "/flavors/p1", alice_)->status, 200);
  EXPECT_EQ(get(kV + "/flavors/p1", bob_)->status, 404);
  EXPECT_EQ(get_json(kV + "/flavors/p1/os-flavor-access", admin_)["flavor_access"].size(), 1u);
  EXPECT_EQ(get(kV + "/flavors/1/os-flavor-access", admin_)->status, 404);  // public flavor
  EXPECT_EQ(
      post(kV + "/flavors/1/action", admin_, json{{"addTenantAccess", {{"tenant", demo}}}}.dump())
          ->status,
      409);
  post_ok(kV + "/flavors/p1/action", admin_, {{"removeTenantAccess", {{"tenant", demo}}}});
  EXPECT_EQ(get(kV + "/flavors/p1", alice_)->status, 404);
  EXPECT_EQ(get_json(kV + "/flavors/detail?is_public=None", admin_)["flavors"].size(), 6u);
}

}  // namespace
}  // namespace gpucloud::api::testing
