// Helpers shared by the compute handlers: nova-style input validation, flavor JSON, extra-spec
// validation and the scheduler request for a server.
#include <fmt/format.h>

#include <regex>

#include "api/compute_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {

Result<json> body_member(const json& body, const char* key) {
  if (!body.contains(key)) {
    return bad_request(
        fmt::format("Invalid input for field/attribute {}. Value: None. '{}' is a "
                    "required property",
                    key, key));
  }
  if (!body[key].is_object()) {
    return bad_request(
        fmt::format("Invalid input for field/attribute {}. Value: {}. {} is not of "
                    "type 'object'",
                    key, body[key].dump(), body[key].dump()));
  }
  return body[key];
}

Status no_extra_fields(const json& obj, const char* where,
                       std::initializer_list<const char*> known) {
  return no_extra_fields(obj, where, std::vector<const char*>(known));
}

Status no_extra_fields(const json& obj, const char* where, const std::vector<const char*>& known) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) {
      return bad_request(
          fmt::format("Invalid input for field/attribute {}. Additional properties "
                      "are not allowed ('{}' was unexpected)",
                      where, it.key()));
    }
  }
  return {};
}

Result<std::optional<std::string>> string_field(const json& obj, const char* key, const char* where,
                                                bool nullable) {
  if (!obj.contains(key) || (nullable && obj[key].is_null())) {
    return std::optional<std::string>();
  }
  if (!obj[key].is_string()) {
    return bad_request(
        fmt::format("Invalid input for field/attribute {}. Value: {}. {} is not of "
                    "type 'string'",
                    key, shown(obj[key]), shown(obj[key])));
  }
  (void)where;
  return std::optional<std::string>(obj[key].get<std::string>());
}

Result<std::optional<int64_t>> int_field(const json& obj, const char* key, const char* where,
                                         int64_t min, int64_t max) {
  (void)where;
  if (!obj.contains(key) || obj[key].is_null()) return std::optional<int64_t>();
  const json& v = obj[key];
  int64_t n = 0;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
  } else if (v.is_string() && std::regex_match(v.get<std::string>(), std::regex("-?[0-9]{1,18}"))) {
    n = std::stoll(v.get<std::string>());
  } else {
    return bad_request(
        fmt::format("Invalid input for field/attribute {}. Value: {}. {} is not "
                    "of type 'integer', 'string'",
                    key, shown(v), shown(v)));
  }
  if (n < min) {
    return bad_request(
        fmt::format("Invalid input for field/attribute {}. Value: {}. {} is less "
                    "than the minimum of {}",
                    key, v.dump(), n, min));
  }
  if (n > max) {
    return bad_request(
        fmt::format("Invalid input for field/attribute {}. Value: {}. {} is "
                    "greater than the maximum of {}",
                    key, v.dump(), n, max));
  }
  return std::optional<int64_t>(n);
}

Result<std::optional<bool>> bool_field(const json& obj, const char* key, const char* where) {
  (void)where;
  if (!obj.contains(key) || obj[key].is_null()) return std::optional<bool>();
  const json& v = obj[key];
  if (v.is_boolean()) return std::optional<bool>(v.get<bool>());
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "true" || s == "1" || s == "yes" || s == "on") return std::optional<bool>(true);
    if (s == "false" || s == "0" || s == "no" || s == "off") return std::optional<bool>(false);
  }
  return bad_request(
      fmt::format("Invalid input for field/attribute {}. Value: {}. {} is not of "
                  "type 'boolean', 'string'",
                  key, shown(v), shown(v)));
}

std::string default_zone(const ApiContext& ctx) {
  return compute_config(ctx)->default_availability_zone.value;
}

std::shared_ptr<const config::NovaConfig> compute_config(const ApiContext& ctx) {
  static const auto kEmpty = std::make_shared<const config::NovaConfig>();
  auto cfg = ctx.nova_config();
  return cfg ? cfg : kEmpty;
}

std::string nova_time(store::TimePoint t) { return iso8601(t).substr(0, 19) + "Z"; }

json link_list(const std::string& base, const std::string& path) {
  return json::array({{{"rel", "self"}, {"href", base + kCompute + path}},
                      {{"rel", "bookmark"}, {"href", base + "/compute" + path}}});
}

json flavor_json(const store::Flavor& f, const std::string& base, bool detail,
                 const Microversion& mv) {
  json j = {{"id", f.id}, {"name", f.name}, {"links", link_list(base, "/flavors/" + f.id)}};
  if (mv.at_least(2, 55))
    j["description"] = f.description.empty() ? json(nullptr) : json(f.description);
  if (!detail) return j;
  j["ram"] = f.memory_mb;
  j["vcpus"] = f.vcpus;
  j["disk"] = f.root_gb;
  j["OS-FLV-EXT-DATA:ephemeral"] = f.ephemeral_gb;
  j["OS-FLV-DISABLED:disabled"] = f.disabled;
  // nova prints "" for no swap, and 0 from 2.75.
  j["swap"] = f.swap_mb == 0 && !mv.at_least(2, 75) ? json("") : json(f.swap_mb);
  j["rxtx_factor"] = f.rxtx_factor;
  j["os-flavor-access:is_public"] = f.is_public;
  if (mv.at_least(2, 61))
    j["extra_specs"] = f.extra_specs.empty() ? json::object() : json(f.extra_specs);
  return j;
}

Status validate_extra_specs(const std::map<std::string, std::string>& specs,
                            const AliasTable& aliases) {
  static const std::regex kKey("[a-zA-Z0-9-_:. ]{1,255}");
  for (const auto& [key, value] : specs) {
    if (!std::regex_match(key, kKey)) {
      return bad_request(
          fmt::format("Invalid input for field/attribute extra_specs. Value: {}. "
                      "'{}' does not match any of the regexes: "
                      "'^[a-zA-Z0-9-_:. ]{{1,255}}$'",
                      shown(json(specs)), cut(key)));
    }
    if (auto s = check_text(value, key, 255); !s.ok()) return s;
    if (key == "hw_video:ram_max_mb") {
      if (!std::regex_match(value, std::regex("[+-]?[0-9]{1,18}"))) {
        return bad_request(
            fmt::format("Validation failed; extra spec '{}': '{}' is not a valid integer value.",
                        key, cut(value)));
      }
      if (std::stoll(value) < 0) {
        return bad_request(fmt::format(
            "Validation failed; extra spec '{}': '{}' is less than the min value of '0'.", key,
            value));
      }
    } else if (key == "pci_passthrough:alias") {
      auto parsed = parse_pci_passthrough_alias(value);
      if (!parsed.ok()) {
        return bad_request(
            fmt::format("Validation failed; extra spec '{}': '{}' is not of the "
                        "format '[^:]+:\\d+(,[^:]+:\\d+)*'.",
                        key, cut(value)));
      }
      for (const auto& req : *parsed) {
        if (!aliases.contains(req.alias)) {
          return bad_request(fmt::format(
              "Validation failed; extra spec '{}': PCI alias {} is not defined", key, req.alias));
        }
      }
    }
  }
  return {};
}

Result<scheduler::RequestSpec> request_spec_for(const store::Flavor& flavor,
                                                const store::Image& image,
                                                const std::string& availability_zone,
                                                const config::NovaConfig& config) {
  auto spec = conductor::request_spec_for(flavor, image, availability_zone, config);
  if (!spec.ok()) return bad_request(spec.error().message);
  return spec;
}

}  // namespace gpucloud::api
