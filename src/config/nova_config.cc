#include "config/nova_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

namespace gpucloud::config {
namespace {

constexpr std::string_view kAllFilters = "nova.scheduler.filters.all_filters";

class Reader {
 public:
  explicit Reader(NovaConfig& cfg) : cfg_(cfg) {}

  void error(const IniEntry& e, std::string_view message) {
    // core's PciAlias/DeviceSpec errors name their field ("alias: ..."); the label says it already.
    for (std::string_view prefix : {"alias: ", "device_spec: "}) {
      if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
    }
    cfg_.problems.push_back({e.where, label(e) + ": " + std::string(message)});
  }
  void warning(const IniEntry& e, const std::string& message) {
    cfg_.problems.push_back({e.where, label(e) + ": " + message, true});
  }

  // nova's alias and device_spec values: a JSON (or, here, Python-literal) dict, or a list of
  // dicts. Hands each dict on as JSON text.
  void for_each_dict(const IniEntry& e, const std::function<void(const std::string&)>& take) {
    nlohmann::json doc = nlohmann::json::parse(e.value, nullptr, false);
    if (doc.is_discarded()) {
      auto converted = python_literal_to_json(e.value);
      if (!converted) return error(e, converted.error().message);
      try {
        doc = nlohmann::json::parse(*converted);
      } catch (const nlohmann::json::parse_error& ex) {
        std::string what = ex.what();
        size_t cut = what.find("] ");
        return error(e, "not a dict or list of dicts: " +
                            (cut == std::string::npos ? what : what.substr(cut + 2)));
      }
    }
    if (doc.is_object()) return take(doc.dump());
    if (!doc.is_array()) return error(e, "expected a dict or a list of dicts");
    for (size_t i = 0; i < doc.size(); ++i) {
      if (!doc[i].is_object()) {
        error(e, "list item " + std::to_string(i + 1) + " is not a dict");
        continue;
      }
      take(doc[i].dump());
    }
  }

  template <typename T>
  std::optional<T> number(const IniEntry& e, double min) {
    T v{};
    const char* begin = e.value.data();
    const char* end = begin + e.value.size();
    auto [p, ec] = std::from_chars(begin, end, v);
    bool finite = true;
    if constexpr (std::is_floating_point_v<T>) finite = std::isfinite(v);
    if (ec != std::errc() || p != end || e.value.empty() || !finite) {
      error(e, "'" + e.value + "' is not " + (std::is_integral_v<T> ? "an integer" : "a number"));
      return std::nullopt;
    }
    if (v < min) {
      error(e, e.value + " is less than the minimum " + format_min(min));
      return std::nullopt;
    }
    return v;
  }

 private:
  static std::string label(const IniEntry& e) { return "[" + e.section + "] " + e.key; }
  static std::string format_min(double m) {
    std::string s = std::to_string(m);
    while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.') s.pop_back();
    return m == static_cast<int>(m) && s.ends_with(".0") ? s.substr(0, s.size() - 2) : s;
  }
  NovaConfig& cfg_;
};

void read_pci(const std::vector<IniFile>& files, Reader& r, NovaConfig& cfg) {
  for (const IniEntry& e : lookup_multi(files, {{"pci", "alias"}, {"DEFAULT", "pci_alias"}})) {
    r.for_each_dict(e, [&](const std::string& json) {
      auto alias = PciAlias::parse(json);
      if (!alias) return r.error(e, alias.error().message);
      if (Status s = cfg.aliases.add(std::move(*alias)); !s) r.error(e, s.error().message);
    });
  }
  for (const IniEntry& e : lookup_multi(files, {{"pci", "device_spec"},
                                                {"pci", "passthrough_whitelist"},
                                                {"DEFAULT", "pci_passthrough_whitelist"}})) {
    r.for_each_dict(e, [&](const std::string& json) {
      auto spec = DeviceSpec::parse(json);
      if (!spec) return r.error(e, spec.error().message);
      cfg.device_specs.push_back({std::move(*spec), e.where});
    });
  }
}

std::vector<std::string> split_list(std::string_view text) {  // oslo's List type
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())))
      item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back())))
      item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

void read_filters(const std::vector<IniFile>& files, Reader& r, NovaConfig& cfg) {
  // available_filters: class paths; nova's own "all_filters" stands for every filter.
  bool all = false;
  std::vector<std::string> available;
  auto avail_entries = lookup_multi(files, {{"filter_scheduler", "available_filters"},
                                            {"DEFAULT", "scheduler_available_filters"}});
  for (const IniEntry& e : avail_entries) {
    cfg.available_filters.push_back({e.value, e.where});
    if (e.value == kAllFilters) {
      all = true;
      continue;
    }
    std::string_view cls = e.value;
    if (size_t dot = cls.rfind('.'); dot != std::string_view::npos) cls.remove_prefix(dot + 1);
    if (!is_nova_filter(cls)) {
      r.error(e, "unknown filter class '" + e.value + "'");
    } else {
      available.emplace_back(cls);
    }
  }
  if (avail_entries.empty()) {
    all = true;
    cfg.available_filters.push_back({std::string(kAllFilters), {}});
  }

  auto enabled = lookup_single(
      files, {{"filter_scheduler", "enabled_filters"}, {"DEFAULT", "scheduler_default_filters"}});
  if (!enabled) {
    for (const char* name : {"ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
                             "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter"}) {
      cfg.enabled_filters.push_back({name, {}});
    }
    return;
  }
  std::vector<std::string> legacy;
  for (const std::string& name : split_list(enabled->value)) {
    if (!is_nova_filter(name)) {
      r.error(*enabled, "unknown filter '" + name + "'");
      continue;
    }
    // nova raises SchedulerHostFilterNotFound for an enabled filter that is not available.
    if (!all && std::find(available.begin(), available.end(), name) == available.end()) {
      r.error(*enabled, "filter '" + name + "' is not in available_filters");
      continue;
    }
    if (is_legacy_nova_filter(name)) legacy.push_back(name);
    cfg.enabled_filters.push_back({name, enabled->where});
  }
  if (!legacy.empty()) {
    std::string names;
    for (const auto& n : legacy) names += (names.empty() ? "" : ", ") + n;
    r.warning(*enabled, names + (legacy.size() == 1 ? " is" : " are") +
                            " no longer in nova (accepted for older configurations)");
  }
}

// nova's weigher classes (nova/scheduler/weights/), and the ones gpucloud implements.
constexpr std::string_view kAllWeighers = "nova.scheduler.weights.all_weighers";
const std::vector<std::string_view> kGpucloudWeighers = {"RAMWeigher", "PCIWeigher",
                                                         "ServerGroupSoftAffinityWeigher",
                                                         "ServerGroupSoftAntiAffinityWeigher"};
const std::vector<std::string_view> kOtherNovaWeighers = {"CPUWeigher",
                                                          "DiskWeigher",
                                                          "MetricsWeigher",
                                                          "IoOpsWeigher",
                                                          "NumInstancesWeigher",
                                                          "BuildFailureWeigher",
                                                          "CrossCellWeigher",
                                                          "HypervisorVersionWeigher",
                                                          "ImagePropertiesWeigher"};

void read_weighers(const std::vector<IniFile>& files, Reader& r, NovaConfig& cfg) {
  auto e = lookup_single(
      files, {{"filter_scheduler", "weight_classes"}, {"DEFAULT", "scheduler_weight_classes"}});
  if (!e) return;
  std::vector<std::string> chosen;
  for (const std::string& item : split_list(e->value)) {
    if (item == kAllWeighers) {
      for (auto w : kGpucloudWeighers) chosen.emplace_back(w);
      continue;
    }
    std::string_view cls = item;
    if (size_t dot = cls.rfind('.'); dot != std::string_view::npos) cls.remove_prefix(dot + 1);
    auto in = [&](const std::vector<std::string_view>& list) {
      return std::find(list.begin(), list.end(), cls) != list.end();
    };
    if (in(kGpucloudWeighers)) {
      chosen.emplace_back(cls);
    } else if (in(kOtherNovaWeighers)) {
      // Deciding without a weigher the operator asked for would place servers differently from
      // what they expect: refuse rather than ignore it.
      r.error(*e, "weigher '" + std::string(cls) +
                      "' is not implemented by gpucloud (it has RAMWeigher, PCIWeigher and the "
                      "server group soft policy weighers)");
    } else {
      r.error(*e, "unknown weigher class '" + item + "'");
    }
  }
  std::sort(chosen.begin(), chosen.end());
  chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  cfg.weighers = std::move(chosen);
}

void read_scalars(const std::vector<IniFile>& files, Reader& r, NovaConfig& cfg) {
  if (auto e = lookup_single(files, {{"spice", "enabled"}})) {
    auto b = parse_bool(e->value);
    if (b) {
      cfg.spice_enabled = *b;
    } else {
      r.error(*e, b.error().message);
    }
  }
  if (auto e = lookup_single(files, {{"spice", "html5proxy_base_url"}}); e && !e->value.empty()) {
    if (e->value.rfind("http://", 0) != 0 && e->value.rfind("https://", 0) != 0) {
      r.error(*e, "'" + e->value + "' is not an http:// or https:// URL");
    } else {
      cfg.spice_html5proxy_base_url = e->value;
    }
  }
  for (auto [key, out] :
       {std::pair{"server_listen", &cfg.spice_server_listen},
        std::pair{"server_proxyclient_address", &cfg.spice_server_proxyclient_address}}) {
    if (auto e = lookup_single(files, {{"spice", key}})) {
      if (e->value.empty()) {
        r.error(*e, "must not be empty");
      } else {
        *out = e->value;
      }
    }
  }
  if (auto e =
          lookup_single(files, {{"consoleauth", "token_ttl"}, {"DEFAULT", "console_token_ttl"}})) {
    if (auto v = r.number<int>(*e, 1)) cfg.console_token_ttl = *v;
  }
  if (auto e = lookup_single(
          files, {{"console", "allowed_origins"}, {"DEFAULT", "console_allowed_origins"}})) {
    cfg.console_allowed_origins.clear();
    size_t pos = 0;
    const std::string& v = e->value;
    while (pos <= v.size()) {
      size_t end = v.find(',', pos);
      if (end == std::string::npos) end = v.size();
      std::string item = v.substr(pos, end - pos);
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) cfg.console_allowed_origins.push_back(item);
      pos = end + 1;
    }
  }
  struct Ratio {
    std::string_view key, initial_key;
    double* out;
  };
  for (const Ratio& ratio :
       {Ratio{"cpu_allocation_ratio", "initial_cpu_allocation_ratio", &cfg.cpu_allocation_ratio},
        Ratio{"ram_allocation_ratio", "initial_ram_allocation_ratio", &cfg.ram_allocation_ratio},
        Ratio{"disk_allocation_ratio", "initial_disk_allocation_ratio",
              &cfg.disk_allocation_ratio}}) {
    // nova: an unset (or, from older releases, 0.0) ratio means "use the initial ratio".
    if (auto e = lookup_single(files, {{"DEFAULT", ratio.initial_key}})) {
      if (auto v = r.number<double>(*e, 0.0)) *ratio.out = *v;
    }
    if (auto e = lookup_single(files, {{"DEFAULT", ratio.key}})) {
      if (auto v = r.number<double>(*e, 0.0); v && *v != 0.0) *ratio.out = *v;
    }
  }
  if (auto e = lookup_single(files, {{"DEFAULT", "host"}}); e && !e->value.empty()) {
    cfg.host = Located<std::string>{e->value, e->where};
  }
  if (auto e = lookup_single(files, {{"database", "connection"}}); e && !e->value.empty()) {
    auto url = DatabaseUrl::parse(e->value);
    if (url) {
      cfg.database = Located<DatabaseUrl>{std::move(*url), e->where};
    } else {
      r.error(*e, url.error().message);
    }
  }
  if (auto e = lookup_single(files, {{"scheduler", "max_attempts"},
                                     {"filter_scheduler", "max_attempts"},
                                     {"DEFAULT", "scheduler_max_attempts"}})) {
    if (auto v = r.number<int>(*e, 1)) cfg.max_attempts = *v;
  }
  if (auto e = lookup_single(files, {{"filter_scheduler", "ram_weight_multiplier"},
                                     {"DEFAULT", "ram_weight_multiplier"}})) {
    if (auto v = r.number<double>(*e, std::numeric_limits<double>::lowest()))
      cfg.ram_weight_multiplier = *v;
  }
  if (auto e = lookup_single(files, {{"filter_scheduler", "pci_weight_multiplier"},
                                     {"DEFAULT", "pci_weight_multiplier"}})) {
    if (auto v = r.number<double>(*e, 0.0)) cfg.pci_weight_multiplier = *v;
  }
  if (auto e = lookup_single(files, {{"filter_scheduler", "soft_affinity_weight_multiplier"}})) {
    if (auto v = r.number<double>(*e, 0.0)) cfg.soft_affinity_weight_multiplier = *v;
  }
  if (auto e =
          lookup_single(files, {{"filter_scheduler", "soft_anti_affinity_weight_multiplier"}})) {
    if (auto v = r.number<double>(*e, 0.0)) cfg.soft_anti_affinity_weight_multiplier = *v;
  }
  if (auto e = lookup_single(files, {{"DEFAULT", "default_availability_zone"}})) {
    // nova's API refuses an empty zone name or one with a ':' (the host part of `zone:host`).
    if (e->value.empty() || e->value.find(':') != std::string::npos) {
      r.error(*e, "'" + e->value + "' is not a zone name (empty, or contains ':')");
    } else {
      cfg.default_availability_zone = {e->value, e->where};
    }
  }
  if (auto e = lookup_single(files, {{"DEFAULT", "service_down_time"}})) {
    if (auto v = r.number<int>(*e, 1)) cfg.service_down_time = *v;
  }
  if (auto e = lookup_single(files, {{"security_compliance", "lockout_failure_attempts"}});
      e && !e->value.empty()) {
    if (auto v = r.number<int>(*e, 1)) cfg.lockout_failure_attempts = *v;
  }
  if (auto e = lookup_single(files, {{"security_compliance", "lockout_duration"}})) {
    if (auto v = r.number<int>(*e, 1)) cfg.lockout_duration = *v;
  }
  if (auto e = lookup_single(files, {{"gpucloud", "scrub_command"}}); e && !e->value.empty()) {
    cfg.scrub_command = Located<std::string>{e->value, e->where};
  }
  if (auto e = lookup_single(files, {{"gpucloud", "scrub_timeout"}})) {
    if (auto v = r.number<int>(*e, 1)) cfg.scrub_timeout = *v;
  }
}

}  // namespace

bool NovaConfig::has_errors() const {
  for (const auto& p : problems) {
    if (!p.warning) return true;
  }
  return false;
}

NovaConfig load_nova_config(const std::vector<IniFile>& files) {
  NovaConfig cfg;
  for (const IniFile& f : files) {
    cfg.problems.insert(cfg.problems.end(), f.problems().begin(), f.problems().end());
  }
  Reader r(cfg);
  read_pci(files, r, cfg);
  read_filters(files, r, cfg);
  read_scalars(files, r, cfg);
  read_weighers(files, r, cfg);
  // Report in file order, then line order, whatever option found the problem.
  auto file_index = [&](const Problem& p) {
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].name() == p.where.file) return i;
    }
    return files.size();
  };
  std::stable_sort(
      cfg.problems.begin(), cfg.problems.end(), [&](const Problem& a, const Problem& b) {
        return std::pair(file_index(a), a.where.line) < std::pair(file_index(b), b.where.line);
      });
  return cfg;
}

}  // namespace gpucloud::config
