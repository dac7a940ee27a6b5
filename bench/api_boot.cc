// bench/api_boot: GPU server boots per second through the HTTP API (Compute v2.1, fake driver,
// embedded SQLite), beside the raw commit rate of a one-row SQLite transaction measured on the
// same database in the same run. A boot is several transactions (instance row, claim, status
// changes, allocation), so the ratio says how close the API path comes to the database's floor.
// Not part of the test suite.
//   bench_api_boot [--boots N] [--rounds R]
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "api/api.h"
#include "compute/compute.h"
#include "store/store_impl.h"

using namespace gpucloud;
using nlohmann::json;

namespace {

constexpr int kHosts = 16;
constexpr int kGpusPerHost = 8;

std::string fake_hosts() {
  json hosts = json::array();
  for (int h = 0; h < kHosts; ++h) {
    json devs = json::array();
    for (int g = 0; g < kGpusPerHost; ++g) {
      char addr[16];
      std::snprintf(addr, sizeof addr, "0000:%02x:00.0", g + 1);
      devs.push_back({{"address", addr}, {"vendor_id", "10de"}, {"product_id", "11bf"}});
    }
    hosts.push_back({{"name", "gpuhost" + std::to_string(h)},
                     {"vcpus", 256},
                     {"memory_mb", 1 << 20},
                     {"disk_gb", 100000},
                     {"pci_devices", devs}});
  }
  return json{{"hosts", hosts}}.dump();
}

struct Client {
  httplib::Client http;
  std::string token;
  explicit Client(int port) : http("127.0.0.1", port) { http.set_read_timeout(60); }
  httplib::Result post(const std::string& path, const json& body) {
    return http.Post(path.c_str(), {{"X-Auth-Token", token}}, body.dump(), "application/json");
  }
  json get(const std::string& path) {
    auto r = http.Get(path.c_str(), {{"X-Auth-Token", token}});
    return r ? json::parse(r->body, nullptr, false) : json();
  }
};

void die(const std::string& what) {
  std::fprintf(stderr, "bench_api_boot: %s\n", what.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  int boots = kHosts * kGpusPerHost;
  int rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--boots") boots = std::atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--rounds") rounds = std::atoi(argv[i + 1]);
  }
  if (boots > kHosts * kGpusPerHost) die("at most 128 boots per round (the GPU pool)");
  const auto dir = std::filesystem::temp_directory_path() / "gpucloud-bench-api-boot";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = store::open_store("sqlite:///" + (dir / "db.sqlite").string());
  if (!store.ok()) die(store.error().message);
  if (!api::bootstrap_identity(**store, "admin", "admin", "bench-secret").ok()) die("bootstrap");
  auto driver = compute::make_fake_driver(fake_hosts());
  if (!driver.ok()) die(driver.error().message);
  if (!compute::register_hosts(**driver, **store, {}).ok()) die("register hosts");
  const char* nova_conf =
      "[pci]\nalias = {\"name\": \"K2_Grid\", \"vendor_id\": \"10de\", \"product_id\": \"11bf\"}\n"
      "device_spec = {\"vendor_id\": \"10de\", \"product_id\": \"11bf\"}\n"
      "[filter_scheduler]\nenabled_filters = ComputeFilter,PciPassthroughFilter\n";
  api::ServerDeps deps;
  deps.store = store->get();
  deps.nova_config = std::make_shared<config::NovaConfig>(
      config::load_nova_config({config::IniFile::parse(nova_conf, "bench nova.conf")}));
  deps.driver = driver->get();
  api::ServerOptions options;
  options.data_dir = dir.string();
  auto server = api::ApiServer::create(deps, options);
  if (!server.ok() || !(*server)->start().ok()) die("server start");

  Client c((*server)->port());
  json auth = {{"auth",
                {{"identity",
                  {{"methods", {"password"}},
                   {"password",
                    {{"user",
                      {{"name", "admin"},
                       {"domain", {{"id", "default"}}},
                       {"password", "bench-secret"}}}}}}},
                 {"scope", {{"project", {{"name", "admin"}, {"domain", {{"id", "default"}}}}}}}}}};
  auto r = c.http.Post("/identity/v3/auth/tokens", auth.dump(), "application/json");
  if (!r || r->status != 201) die("login");
  c.token = r->get_header_value("X-Subject-Token");
  c.post("/compute/v2.1/flavors",
         {{"flavor", {{"id", "gpu"}, {"name", "gpu"}, {"vcpus", 1}, {"ram", 512}, {"disk", 1}}}});
  c.post("/compute/v2.1/flavors/gpu/os-extra_specs",
         {{"extra_specs", {{"pci_passthrough:alias", "K2_Grid:1"}}}});
  r = c.http.Post(
      "/image/v2/images", {{"X-Auth-Token", c.token}},
      json{{"name", "img"}, {"disk_format", "raw"}, {"container_format", "bare"}}.dump(),
      "application/json");
  if (!r || r->status != 201) die("image create");
  const std::string image = json::parse(r->body)["id"];
  c.http.Put(("/image/v2/images/" + image + "/file").c_str(), {{"X-Auth-Token", c.token}},
             std::string(1 << 20, '\0'), "application/octet-stream");

  std::printf("bench_api_boot: %d hosts x %d GPUs, fake driver, SQLite (synchronous=FULL, WAL)\n",
              kHosts, kGpusPerHost);
  double best_boots = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < boots; ++i) {
      auto res = c.post(
          "/compute/v2.1/servers",
          {{"server",
            {{"name", "vm" + std::to_string(i)}, {"imageRef", image}, {"flavorRef", "gpu"}}}});
      if (!res || res->status != 202) die("server create: " + (res ? res->body : "no answer"));
    }
    int active = 0, error = 0;
    json servers;
    while (active + error < boots) {
      servers = c.get("/compute/v2.1/servers/detail");
      active = error = 0;
      for (const auto& s : servers["servers"]) {
        active += s["status"] == "ACTIVE";
        error += s["status"] == "ERROR";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (error) die(std::to_string(error) + " boots ended in ERROR");
    const double rate = boots / secs;
    best_boots = std::max(best_boots, rate);
    std::printf("  round %d: %d GPU boots ACTIVE in %.2f s = %.1f boots/s\n", round + 1, boots,
                secs, rate);
    for (const auto& s : servers["servers"]) {  // untimed: free the GPUs for the next round
      c.http.Delete(("/compute/v2.1/servers/" + s["id"].get<std::string>()).c_str(),
                    {{"X-Auth-Token", c.token}});
    }
    for (int tries = 0; tries < 2000 && !c.get("/compute/v2.1/servers")["servers"].empty();
         ++tries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  auto commit = store::time_one_row_commits(**store, "gpuhost0", 200);
  if (!commit.ok()) die(commit.error().message);
  const double commits = 200 / *commit;
  std::printf("  raw one-row SQLite commits: %.1f/s on the same database\n", commits);
  std::printf(
      "  ratio: best %.1f boots/s = %.1f%% of the commit rate (%.1f commits' time per boot)\n",
      best_boots, 100 * best_boots / commits, commits / best_boots);
  (*server)->stop();
  std::filesystem::remove_all(dir);
  return 0;
}
