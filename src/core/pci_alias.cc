// nova's PCI alias (nova/pci/request.py: _ALIAS_SCHEMA and _get_alias_from_config).
#include "core/pci_alias.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/json_text_impl.h"
#include "core/python_compat_impl.h"

namespace gpucloud {
namespace {

using nlohmann::json;

constexpr const char* kFields[] = {"name",        "vendor_id",   "product_id",
                                   "device_type", "numa_policy", "capability_type"};
constexpr size_t kMaxNameLength = 256;  // the schema's maxLength, in characters

Result<NumaPolicy> parse_numa_policy(std::string_view text) {
  for (NumaPolicy p :
       {NumaPolicy::kRequired, NumaPolicy::kLegacy, NumaPolicy::kPreferred, NumaPolicy::kSocket}) {
    if (text == to_string(p)) return p;
  }
  return Error::invalid(
      fmt::format("numa_policy '{}' is not one of required, legacy, preferred, socket", text));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Checks the schema's "type": "string" for one field and returns its text.
Result<std::string> string_field(const json& spec, const char* field) {
  const json& v = spec.at(field);
  if (!v.is_string()) {
    return Error::invalid(fmt::format("{} must be a string, got {}", field, v.type_name()));
  }
  return v.get<std::string>();
}

Result<PciAlias> parse_fields(const json& spec) {
  if (!spec.is_object()) {
    return Error::invalid(fmt::format("expected a JSON object, got {}", spec.type_name()));
  }
  // "additionalProperties": false.
  for (const auto& [key, value] : spec.items()) {
    if (std::find(std::begin(kFields), std::end(kFields), key) == std::end(kFields)) {
      return Error::invalid(fmt::format(
          "unknown field '{}' (allowed: name, vendor_id, product_id, device_type, numa_policy, "
          "capability_type)",
          key));
    }
  }
  if (!spec.contains("name")) return Error::invalid("missing required field 'name'");
  auto name = string_field(spec, "name");
  if (!name.ok()) return name.error();
  if (name->empty()) return Error::invalid("name must not be empty");
  if (py::code_points(*name) > kMaxNameLength) {
    return Error::invalid(fmt::format("name is longer than {} characters", kMaxNameLength));
  }
  PciAlias alias;
  // nova strips the name after validation. A name of only spaces would become "", which no
  // flavor can ask for; we refuse it rather than keep a dead alias.
  alias.name = std::string(py::strip(*name));
  if (alias.name.empty()) return Error::invalid("name must not be only whitespace");

  auto in_context = [&](const Error& e) { return e.with_context(fmt::format("'{}'", alias.name)); };
  for (const char* id_field : {"vendor_id", "product_id"}) {
    if (!spec.contains(id_field)) continue;
    auto text = string_field(spec, id_field);
    if (!text.ok()) return in_context(text.error());
    // The schema's pattern is exactly four hex digits: unlike device specs, no "*" and no "0x".
    auto id = HexId::parse(*text, id_field);
    if (!id.ok()) return in_context(id.error());
    (std::string_view(id_field) == "vendor_id" ? alias.vendor_id : alias.product_id) = *id;
  }
  if (spec.contains("device_type")) {
    auto text = string_field(spec, "device_type");
    if (!text.ok()) return in_context(text.error());
    auto type = parse_device_type(*text);
    if (!type.ok()) return in_context(type.error());
    alias.device_type = *type;
  }
  if (spec.contains("numa_policy")) {
    auto text = string_field(spec, "numa_policy");
    if (!text.ok()) return in_context(text.error());
    auto policy = parse_numa_policy(*text);
    if (!policy.ok()) return in_context(policy.error());
    alias.numa_policy = *policy;
  }
  if (spec.contains("capability_type")) {
    auto text = string_field(spec, "capability_type");
    if (!text.ok()) return in_context(text.error());
    if (*text != "pci") {
      return in_context(
          Error::invalid(fmt::format("capability_type '{}' is not one of pci", *text)));
    }
    alias.capability_type = *text;
  }
  return alias;
}

}  // namespace

const char* to_string(NumaPolicy p) {
  switch (p) {
    case NumaPolicy::kLegacy:
      return "legacy";
    case NumaPolicy::kRequired:
      return "required";
    case NumaPolicy::kPreferred:
      return "preferred";
    case NumaPolicy::kSocket:
      return "socket";
  }
  return "legacy";
}

Result<PciAlias> PciAlias::parse(std::string_view json_object) {
  auto doc = parse_json_text(json_object);
  if (!doc.ok()) return doc.error().with_context("alias");
  auto alias = parse_fields(*doc);
  if (!alias.ok()) return alias.error().with_context("alias");
  return alias;
}

bool PciAlias::matches(const PciDevice& device) const { return matches(device, {}); }

// nova's pci_device_prop_match: every key the alias sets must equal the device pool's value,
// compared in lower case.
bool PciAlias::matches(const PciDevice& device,
                       const std::map<std::string, std::string>& spec_tags) const {
  if (vendor_id && !(*vendor_id == device.vendor_id)) return false;
  if (product_id && !(*product_id == device.product_id)) return false;
  if (device_type && *device_type != device.dev_type) return false;
  if (capability_type) {
    auto it = spec_tags.find("capability_type");
    if (it == spec_tags.end() || lower(it->second) != lower(*capability_type)) return false;
  }
  return true;
}

std::string PciAlias::describe() const {
  std::string out =
      fmt::format("{}: vendor_id={} product_id={} device_type={} numa_policy={}", name,
                  vendor_id ? vendor_id->str() : "*", product_id ? product_id->str() : "*",
                  device_type ? to_string(*device_type) : "*", to_string(numa_policy));
  if (capability_type) out += " capability_type=" + *capability_type;
  return out;
}

// nova ORs entries that share a name, but only if they agree on numa_policy and device_type. It
// compares device_type as `first['dev_type'] != new['dev_type']`, which raises KeyError when
// either entry leaves device_type out: entries sharing a name must all set it.
Status AliasTable::add(PciAlias alias) {
  const auto same_name = find(alias.name);
  if (!same_name.empty()) {
    const PciAlias& first = *same_name.front();
    if (first.numa_policy != alias.numa_policy) {
      return Error::invalid(fmt::format(
          "alias '{}': numa_policy '{}' conflicts with numa_policy '{}' of an earlier entry with "
          "the same name",
          alias.name, to_string(alias.numa_policy), to_string(first.numa_policy)));
    }
    if (!first.device_type || !alias.device_type) {
      return Error::invalid(fmt::format(
          "alias '{}': several entries share this name, so each must set device_type (nova "
          "refuses them otherwise)",
          alias.name));
    }
    if (*first.device_type != *alias.device_type) {
      return Error::invalid(fmt::format(
          "alias '{}': device_type '{}' conflicts with device_type '{}' of an earlier entry with "
          "the same name",
          alias.name, to_string(*alias.device_type), to_string(*first.device_type)));
    }
  }
  entries_.push_back(std::move(alias));
  return Status::Ok();
}

std::vector<const PciAlias*> AliasTable::find(std::string_view name) const {
  std::vector<const PciAlias*> out;
  for (const PciAlias& a : entries_) {
    if (a.name == name) out.push_back(&a);
  }
  return out;
}

bool AliasTable::matches(std::string_view name, const PciDevice& device) const {
  const auto entries = find(name);
  return std::any_of(entries.begin(), entries.end(),
                     [&](const PciAlias* a) { return a->matches(device); });
}

std::vector<std::string> AliasTable::names() const {
  std::vector<std::string> out;
  for (const PciAlias& a : entries_) {
    if (std::find(out.begin(), out.end(), a.name) == out.end()) out.push_back(a.name);
  }
  return out;
}

}  // namespace gpucloud
