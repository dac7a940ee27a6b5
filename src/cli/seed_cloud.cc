#include "cli/seed_cloud.h"

#include <fmt/format.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

namespace gpucloud::cli {
namespace {

using nlohmann::json;

// A small API client that fails with the server's own message.
class Client {
 public:
  explicit Client(const std::string& base_url) : http_(base_url) {
    http_.set_connection_timeout(5);
    http_.set_read_timeout(30);
  }
  Status login(const SeedOptions& o) {
    json body = {
        {"auth",
         {{"identity",
           {{"methods", {"password"}},
            {"password",
             {{"user",
               {{"name", o.user}, {"domain", {{"id", "default"}}}, {"password", o.password}}}}}}},
          {"scope", {{"project", {{"name", o.project}, {"domain", {{"id", "default"}}}}}}}}}};
    auto r = http_.Post("/identity/v3/auth/tokens", body.dump(), "application/json");
    if (!r || r->status != 201) return fail("POST", "/identity/v3/auth/tokens", r);
    token_ = r->get_header_value("X-Subject-Token");
    return {};
  }
  Result<json> call(const std::string& method, const std::string& path, const json& body = {},
                    int* status = nullptr) {
    httplib::Headers h = {{"X-Auth-Token", token_}};
    httplib::Result r =
        method == "GET"    ? http_.Get(path.c_str(), h)
        : method == "POST" ? http_.Post(path.c_str(), h, body.dump(), "application/json")
        : method == "PUT"  ? http_.Put(path.c_str(), h, body.dump(), "application/json")
                           : http_.Delete(path.c_str(), h);
    if (status) *status = r ? r->status : -1;
    if (!r || r->status >= 300) {
      if (status && r && r->status == 404) return json();
      return fail(method, path, r);
    }
    if (r->body.empty()) return json();
    json j = json::parse(r->body, nullptr, false);
    return j.is_discarded() ? json() : j;
  }
  Status upload(const std::string& path, std::string data) {
    httplib::Headers h = {{"X-Auth-Token", token_}};
    auto r = http_.Put(path.c_str(), h, data, "application/octet-stream");
    if (!r || r->status >= 300) return fail("PUT", path, r);
    return {};
  }

 private:
  static Error fail(const std::string& method, const std::string& path, const httplib::Result& r) {
    if (!r) return Error::unavailable(fmt::format("{} {}: no answer from the API", method, path));
    return Error::internal(
        fmt::format("{} {}: HTTP {}: {}", method, path, r->status, r->body.substr(0, 400)));
  }
  httplib::Client http_;
  std::string token_;
};

struct FlavorDef {
  const char* id;
  const char* name;
  int vcpus;
  int ram;
  int disk;
  bool gpu;
};
// nova's classic m1 flavors, which the seed refers to by id 1..5.
constexpr FlavorDef kFlavors[] = {{"1", "m1.tiny", 1, 512, 1, false},
                                  {"2", "m1.small", 1, 2048, 20, false},
                                  {"3", "m1.medium", 2, 4096, 40, false},
                                  {"4", "m1.large", 4, 8192, 80, true},
                                  {"5", "m1.xlarge", 8, 16384, 160, true}};

Status seed_flavors(Client& c, bool full) {
  for (const auto& f : kFlavors) {
    int status = 0;
    auto existing = c.call("GET", fmt::format("/compute/v2.1/flavors/{}", f.id), {}, &status);
    if (!existing.ok()) return existing.error();
    if (status == 404) {
      auto r = c.call("POST", "/compute/v2.1/flavors",
                      {{"flavor",
                        {{"id", f.id},
                         {"name", f.name},
                         {"vcpus", f.vcpus},
                         {"ram", f.ram},
                         {"disk", f.disk}}}});
      if (!r.ok()) return r.error();
    }
    if (!full) continue;
    // `nova flavor-key N set gpu=...`, and for GPU flavors the seed's video RAM and alias.
    json specs = {{"gpu", f.gpu ? "true" : "false"}};
    if (f.gpu) {
      specs["hw_video:ram_max_mb"] = "64";
      specs["pci_passthrough:alias"] = "K2_Grid:1";
    }
    auto r = c.call("POST", fmt::format("/compute/v2.1/flavors/{}/os-extra_specs", f.id),
                    {{"extra_specs", specs}});
    if (!r.ok()) return r.error();
  }
  return {};
}

Status seed_aggregates(Client& c) {
  auto list = c.call("GET", "/compute/v2.1/os-aggregates");
  if (!list.ok()) return list.error();
  struct AggDef {
    const char* name;
    const char* gpu;  // nullptr: no metadata
    std::vector<const char*> hosts;
  };
  const AggDef defs[] = {{"aggregate_Denver", nullptr, {}},
                         {"GPU", "true", {"vmhost3"}},
                         {"nonGPU", "false", {"vmhost1", "vmhost2"}}};
  for (const auto& d : defs) {
    bool exists = false;
    for (const auto& a : (*list)["aggregates"]) exists = exists || a["name"] == d.name;
    if (exists) continue;
    auto created = c.call("POST", "/compute/v2.1/os-aggregates",
                          {{"aggregate", {{"name", d.name}, {"availability_zone", "Denver"}}}});
    if (!created.ok()) return created.error();
    const std::string action =
        fmt::format("/compute/v2.1/os-aggregates/{}/action", (*created)["aggregate"]["id"].dump());
    if (d.gpu) {
      auto r = c.call("POST", action, {{"set_metadata", {{"metadata", {{"gpu", d.gpu}}}}}});
      if (!r.ok()) return r.error();
    }
    for (const char* host : d.hosts) {
      auto r = c.call("POST", action, {{"add_host", {{"host", host}}}});
      if (!r.ok()) return r.error();
    }
  }
  return {};
}

Status seed_image(Client& c, size_t size_mib) {
  auto list = c.call("GET", "/image/v2/images?name=my_new_image");
  if (!list.ok()) return list.error();
  if (!(*list)["images"].empty()) return {};
  // The seed's `glance image-create` (with --visibility public for the old --is-public true).
  auto created = c.call("POST", "/image/v2/images",
                        {{"name", "my_new_image"},
                         {"visibility", "public"},
                         {"disk_format", "raw"},
                         {"container_format", "bare"},
                         {"min_disk", 15},
                         {"min_ram", 512},
                         {"image_type", "loginnode"},
                         {"service_type", "loginNode"},
                         {"hw_video_model", "qxl"},
                         {"hw_video_ram", "8"},
                         {"configure_x", "true"},
                         {"service_url", "https://{}/"}});
  if (!created.ok()) return created.error();
  // A sparse raw disk: zeros, as `truncate -s` would make.
  return c.upload(fmt::format("/image/v2/images/{}/file", (*created)["id"].get<std::string>()),
                  std::string(size_mib << 20, '\0'));
}

}  // namespace

Status seed_cloud(const SeedOptions& o) {
  Client c(o.base_url);
  if (auto s = c.login(o); !s.ok()) return s;
  if (auto s = seed_flavors(c, o.full); !s.ok()) return s;
  if (!o.full) return {};
  if (auto s = seed_aggregates(c); !s.ok()) return s;
  return seed_image(c, o.image_size_mib);
}

}  // namespace gpucloud::cli
