// The portal's server side without a browser: static files (types, caching, what is refused),
// the cookie session (CSRF header, revocation) and GET /compute/v2.1/gpucloud-gpus per role.
#include <fstream>

#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class PortalTest : public ApiTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    const auto web = dir_ / "web";
    std::filesystem::create_directories(web / "node_modules" / "lib");
    std::ofstream(web / "index.html") << "<!doctype html><title>portal</title>";
    std::ofstream(web / "app.js") << "'use strict';";
    std::ofstream(web / "package.json") << "{}";
    std::ofstream(web / ".secret.js") << "hidden";
    std::ofstream(web / "node_modules" / "lib" / "x.js") << "tooling";
    std::ofstream(dir_ / "outside.txt") << "outside";
    options.web_root = web.string();
    auto cfg = std::make_shared<config::NovaConfig>();
    auto alias =
        PciAlias::parse(R"({"name": "K2_Grid", "vendor_id": "10de", "product_id": "11bf"})");
    ASSERT_TRUE(alias.ok());
    ASSERT_TRUE(cfg->aliases.add(*alias).ok());
    deps.nova_config = cfg;
  }

  // Signs in through the portal; returns the Set-Cookie header ("" on failure).
  std::string sign_in(const std::string& name, const std::string& password,
                      const std::string& project, int* status = nullptr) {
    json body = {{"name", name}, {"password", password}, {"project", project}};
    auto r = client_->Post("/portal/session", {{"X-Requested-With", "test"}}, body.dump(),
                           "application/json");
    if (status) *status = r ? r->status : -1;
    if (!r || r->status != 201) return "";
    return r->get_header_value("Set-Cookie");
  }
  static std::string cookie_of(const std::string& set_cookie) {
    return set_cookie.substr(0, set_cookie.find(';'));
  }
};

TEST_F(PortalTest, ServesPageFilesWithTypesAndRevalidation) {
  auto root = client_->Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 302);
  EXPECT_EQ(root->get_header_value("Location"), "/portal/");
  auto index = client_->Get("/portal/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->body, "<!doctype html><title>portal</title>");
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  auto js = client_->Get("/portal/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js->get_header_value("Cache-Control"), "no-cache");
  const std::string etag = js->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  auto again = client_->Get("/portal/app.js", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
}

TEST_F(PortalTest, RefusesToolingHiddenFilesAndTraversal) {
  for (const char* path :
       {"/portal/package.json", "/portal/node_modules/lib/x.js", "/portal/.secret.js",
        "/portal/../outside.txt", "/portal/..%2foutside.txt", "/portal/%2e%2e/outside.txt",
        "/portal/db.sqlite", "/portal/missing.js"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r) << path;
    // httplib itself may refuse a path with ".." (400); either way nothing is served.
    EXPECT_TRUE(r->status == 404 || r->status == 400) << path << ": " << r->status;
    EXPECT_EQ(r->body.find("outside"), std::string::npos) << path;
  }
}

TEST_F(PortalTest, SessionCookieIsHttpOnlyStrictAndNeedsTheCsrfHeader) {
  // Sign-in itself demands the header (no login CSRF) and the right password.
  auto bare = client_->Post("/portal/session", R"({"name":"alice","password":"alice-secret"})",
                            "application/json");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->status, 403);
  int status = 0;
  EXPECT_EQ(sign_in("alice", "wrong", "demo", &status), "");
  EXPECT_EQ(status, 401);

  const std::string set_cookie = sign_in("alice", "alice-secret", "demo");
  ASSERT_FALSE(set_cookie.empty());
  EXPECT_EQ(set_cookie.rfind("gpucloud_session=", 0), 0u);
  EXPECT_NE(set_cookie.find("; HttpOnly"), std::string::npos);
  EXPECT_NE(set_cookie.find("; SameSite=Strict"), std::string::npos);
  EXPECT_EQ(set_cookie.find("Secure"), std::string::npos);  // plain HTTP here
  const std::string cookie = cookie_of(set_cookie);

  auto no_header = client_->Get("/compute/v2.1/servers", {{"Cookie", cookie}});
  ASSERT_TRUE(no_header);
  EXPECT_EQ(no_header->status, 401);
  auto with_header =
      client_->Get("/compute/v2.1/servers", {{"Cookie", cookie}, {"X-Requested-With", "x"}});
  ASSERT_TRUE(with_header);
  EXPECT_EQ(with_header->status, 200);
  auto who = client_->Get("/portal/session", {{"Cookie", cookie}, {"X-Requested-With", "x"}});
  ASSERT_TRUE(who);
  ASSERT_EQ(who->status, 200);
  const json s = json::parse(who->body)["session"];
  EXPECT_EQ(s["user"]["name"], "alice");
  EXPECT_EQ(s["project"]["name"], "demo");
  EXPECT_EQ(s["can_launch"], true);
  EXPECT_EQ(s["is_admin"], false);
}

TEST_F(PortalTest, SignOutRevokesTheToken) {
  const std::string cookie = cookie_of(sign_in("rita", "rita-secret", "demo"));
  ASSERT_FALSE(cookie.empty());
  auto out = client_->Delete("/portal/session", {{"Cookie", cookie}, {"X-Requested-With", "x"}});
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 204);
  EXPECT_NE(out->get_header_value("Set-Cookie").find("Max-Age=0"), std::string::npos);
  auto after = client_->Get("/portal/session", {{"Cookie", cookie}, {"X-Requested-With", "x"}});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
}

TEST_F(PortalTest, FreeGpusPerModelForEveryoneAndPerHostForAdmins) {
  store::ComputeHost host;
  host.name = "gpuhost";
  host.vcpus = 8;
  host.memory_mb = 16384;
  host.disk_gb = 100;
  ASSERT_TRUE(store_->upsert_compute_host(host).ok());
  std::vector<PciDevice> seen;
  for (const char* addr : {"0000:06:00.0", "0000:07:00.0"}) {
    PciDevice d;
    d.address = *PciAddress::parse(addr);
    d.vendor_id = *VendorId::parse("10de");
    d.product_id = *ProductId::parse("11bf");
    seen.push_back(d);
  }
  PciDevice other;  // a device no alias asks for is not a GPU of any model
  other.address = *PciAddress::parse("0000:08:00.0");
  other.vendor_id = *VendorId::parse("8086");
  other.product_id = *ProductId::parse("1521");
  seen.push_back(other);
  ASSERT_TRUE(store_->sync_pci_devices("gpuhost", seen).ok());
  auto devices = store_->list_pci_devices({});
  ASSERT_TRUE(devices.ok());
  for (const auto& d : *devices) {
    if (d.address.to_string() == "0000:07:00.0") {
      ASSERT_TRUE(store_->set_pci_device_available(d.id, false).ok());
    }
  }

  auto reader = get("/compute/v2.1/gpucloud-gpus", login("rita", "rita-secret", "demo"));
  ASSERT_TRUE(reader);
  ASSERT_EQ(reader->status, 200) << reader->body;
  const json r = json::parse(reader->body);
  ASSERT_EQ(r["gpus"].size(), 1u);
  EXPECT_EQ(r["gpus"][0]["alias"], "K2_Grid");
  EXPECT_EQ(r["gpus"][0]["total"], 2);
  EXPECT_EQ(r["gpus"][0]["free"], 1);
  EXPECT_EQ(r["gpus"][0]["unavailable"], 1);
  EXPECT_FALSE(r.contains("hosts"));

  auto admin = get("/compute/v2.1/gpucloud-gpus", login("admin", "admin-secret", "admin"));
  ASSERT_TRUE(admin);
  const json a = json::parse(admin->body);
  ASSERT_EQ(a["hosts"].size(), 1u);
  EXPECT_EQ(a["hosts"][0]["host"], "gpuhost");
  EXPECT_EQ(a["hosts"][0]["free"]["K2_Grid"], 1);
  ASSERT_EQ(a["hosts"][0]["devices"].size(), 2u);
  EXPECT_EQ(a["hosts"][0]["devices"][0]["address"], "0000:06:00.0");
  EXPECT_EQ(a["hosts"][0]["devices"][0]["state"], "free");
  EXPECT_EQ(a["hosts"][0]["devices"][1]["state"], "unavailable");
}

}  // namespace
}  // namespace gpucloud::api::testing
