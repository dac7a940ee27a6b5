// Where the keys may be: cloudcontroller.ini is a PasteDeploy file, and a Pyramid application
// such as the Cloud Controller gets as its settings only the keys of the [app:...] section it is
// loaded from ([app:main] by default); [DEFAULT] becomes global_conf and other sections
// ([server:main], [loggers], ...) belong to other parts. So the keys are read from [app:main]
// (or, when there is none, the first [app:...] section), and a key found anywhere else is
// reported as ignored rather than silently used or silently dropped.
//
// PasteDeploy reads the file with Python's ConfigParser, which refuses a key set twice in one
// section; so do we. (Its %(here)s interpolation is not done: neither key needs it.)
#include "config/cloudcontroller_config.h"

#include <cctype>
#include <map>

namespace gpucloud::config {
namespace {

constexpr std::string_view kGpuQuery = "openstack.gpu_query";
constexpr std::string_view kGpuPciIds = "openstack.gpu_pci_ids";

std::string app_section(const IniFile& file) {
  std::string first;
  for (const auto& e : file.entries()) {
    if (e.section == "app:main") return e.section;
    if (first.empty() && e.section.starts_with("app:")) first = e.section;
  }
  return first.empty() ? "app:main" : first;
}

}  // namespace

bool CloudControllerConfig::has_errors() const {
  for (const auto& p : problems) {
    if (!p.warning) return true;
  }
  return false;
}

bool looks_like_cloudcontroller(const IniFile& file) {
  for (const auto& e : file.entries()) {
    if (e.section.starts_with("app:") || e.key.starts_with("openstack.")) return true;
  }
  return false;
}

CloudControllerConfig load_cloudcontroller_config(const IniFile& file) {
  CloudControllerConfig cfg;
  cfg.problems = file.problems();
  const std::string app = app_section(file);
  std::map<std::string, const IniEntry*> seen;  // key -> first assignment in the app section

  for (const IniEntry& e : file.entries()) {
    if (e.key != kGpuQuery && e.key != kGpuPciIds) continue;
    const bool bare = e.section.empty();  // before any section (IniDialect::kPasteDeploy)
    const std::string label = bare ? e.key : "[" + e.section + "] " + e.key;
    if (bare) {
      // The seed shows the two lines without their section. Read them as [app:main]'s, which is
      // where PasteDeploy (and so the Cloud Controller) needs them, and say so.
      cfg.problems.push_back(
          {e.where,
           label + ": outside any section: read as if under [" + app +
               "] (a PasteDeploy file such as the Cloud Controller's needs it there)",
           true});
    } else if (e.section != app) {
      cfg.problems.push_back(
          {e.where, label + ": ignored: the Cloud Controller reads its settings from [" + app + "]",
           true});
      continue;
    }
    if (auto [it, fresh] = seen.emplace(e.key, &e); !fresh) {
      cfg.problems.push_back({e.where, label + ": set more than once (first at line " +
                                           std::to_string(it->second->where.line) + ")"});
      continue;
    }
    if (e.key == kGpuQuery) {
      auto url = DatabaseUrl::parse(e.value);
      if (url) {
        cfg.gpu_query = Located<DatabaseUrl>{std::move(*url), e.where};
      } else {
        cfg.problems.push_back({e.where, label + ": " + url.error().message});
      }
      continue;
    }
    size_t pos = 0;
    while (pos < e.value.size()) {
      while (pos < e.value.size() && std::isspace(static_cast<unsigned char>(e.value[pos]))) ++pos;
      size_t end = pos;
      while (end < e.value.size() && !std::isspace(static_cast<unsigned char>(e.value[end]))) ++end;
      if (end == pos) break;
      auto id = HexId::parse(std::string_view(e.value).substr(pos, end - pos), "product id");
      if (id) {
        cfg.gpu_pci_ids.push_back({*id, e.where});
      } else {
        cfg.problems.push_back({e.where, label + ": " + id.error().message});
      }
      pos = end;
    }
    if (e.value.find_first_not_of(" \t\n") == std::string::npos) {
      cfg.problems.push_back({e.where, label + ": no product ids given"});
    }
  }
  if (!seen.contains(std::string(kGpuQuery))) {
    cfg.problems.push_back({{file.name(), 0},
                            "no " + std::string(kGpuQuery) + " in [" + app +
                                "]: the Cloud Controller's GPU check is off",
                            true});
  }
  if (!seen.contains(std::string(kGpuPciIds))) {
    cfg.problems.push_back(
        {{file.name(), 0},
         "no " + std::string(kGpuPciIds) + " in [" + app + "]: no GPU model is checked",
         true});
  }
  return cfg;
}

}  // namespace gpucloud::config
