// ImagePropertiesFilter: the image's architecture, hypervisor type and VM mode (hw_architecture,
// img_hv_type, hw_vm_mode, or their legacy names architecture, hypervisor_type, vm_mode) must
// be one of the host's supported instances, and img_hv_requested_version must accept the host's
// hypervisor version. An image that names none of them passes everywhere. Names are canonicalized
// as nova does (amd64 -> x86_64, xapi -> xen, hv -> hvm, ...).
#include <algorithm>
#include <cctype>
#include <sstream>

#include "scheduler/host_index.h"
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string property(const ImageMeta& image, const char* name, const char* legacy) {
  auto it = image.properties.find(name);
  if (it == image.properties.end()) it = image.properties.find(legacy);
  return it == image.properties.end() ? std::string() : it->second;
}

std::string canonical_arch(std::string a) {
  a = lower(std::move(a));
  if (a == "i386" || a == "i486" || a == "i586" || a == "x86_32" || a == "x86_32p") return "i686";
  if (a == "amd64") return "x86_64";
  return a;
}
std::string canonical_hv(std::string h) {
  h = lower(std::move(h));
  return h == "xapi" ? "xen" : h;
}
std::string canonical_mode(std::string m) {
  m = lower(std::move(m));
  if (m == "pv") return "xen";
  if (m == "hv" || m == "baremetal") return "hvm";
  return m;
}

std::vector<int> version_parts(const std::string& v) {
  std::vector<int> parts;
  std::stringstream in(v);
  std::string part;
  while (std::getline(in, part, '.')) parts.push_back(std::atoi(part.c_str()));
  while (parts.size() < 3) parts.push_back(0);
  return parts;
}

// nova's VersionPredicate over "op ver[, op ver]", e.g. ">= 6.0". Unknown syntax fails the host.
bool version_ok(int64_t hv, const std::string& requirement) {
  std::vector<int> have = {static_cast<int>(hv / 1000000), static_cast<int>(hv / 1000 % 1000),
                           static_cast<int>(hv % 1000)};
  std::stringstream in(requirement);
  std::string clause;
  while (std::getline(in, clause, ',')) {
    size_t i = clause.find_first_not_of(" \t");
    if (i == std::string::npos) continue;
    size_t j = clause.find_first_of("0123456789", i);
    if (j == std::string::npos) return false;
    std::string op = clause.substr(i, j - i);
    op.erase(op.find_last_not_of(" \t") + 1);
    auto want = version_parts(clause.substr(j));
    auto c = have <=> want;
    bool ok = op == ">="   ? c >= 0
              : op == ">"  ? c > 0
              : op == "<=" ? c <= 0
              : op == "<"  ? c < 0
              : op == "==" ? c == 0
              : op == "!=" ? c != 0
                           : false;
    if (!ok) return false;
  }
  return true;
}

class ImagePropertiesFilter : public CheckFilter {
 public:
  ImagePropertiesFilter() : CheckFilter("ImagePropertiesFilter") {}
  bool runs_on_rebuild() const override { return true; }

  // An image that names no architecture, hypervisor type or VM mode passes everywhere: decided
  // once from the request.
  void narrow(const HostView& hosts, const RequestSpec& request,
              HostBits& candidates) const override {
    const auto& image = request.image;
    if (property(image, "hw_architecture", "architecture").empty() &&
        property(image, "img_hv_type", "hypervisor_type").empty() &&
        property(image, "hw_vm_mode", "vm_mode").empty()) {
      return;
    }
    Filter::narrow(hosts, request, candidates);
  }

 private:
  bool check(const HostState& host, const RequestSpec& request, std::string* why) const override {
    const auto& image = request.image;
    std::string arch = canonical_arch(property(image, "hw_architecture", "architecture"));
    std::string hv = canonical_hv(property(image, "img_hv_type", "hypervisor_type"));
    std::string mode = canonical_mode(property(image, "hw_vm_mode", "vm_mode"));
    std::string version =
        property(image, "img_hv_requested_version", "hypervisor_version_requires");
    if (arch.empty() && hv.empty() && mode.empty()) return true;
    for (const auto& s : host.supported_instances) {
      if ((arch.empty() || arch == s.arch) && (hv.empty() || hv == s.hv_type) &&
          (mode.empty() || mode == s.vm_mode)) {
        // nova checks the version only when both sides have one.
        if (version.empty() || !host.hypervisor_version ||
            version_ok(*host.hypervisor_version, version)) {
          return true;
        }
      }
    }
    if (!why) return false;
    std::string wanted = (arch.empty() ? "*" : arch) + "/" + (hv.empty() ? "*" : hv) + "/" +
                         (mode.empty() ? "*" : mode);
    if (host.supported_instances.empty()) {
      *why = "image needs " + wanted + ", host advertises no supported instances";
      return false;
    }
    std::string have;
    for (const auto& s : host.supported_instances) {
      have += (have.empty() ? "" : ", ") + s.arch + "/" + s.hv_type + "/" + s.vm_mode;
    }
    *why = "image needs " + wanted +
           (version.empty() ? "" : " with hypervisor version " + version) + ", host supports " +
           have;
    return false;
  }
};

}  // namespace

std::unique_ptr<Filter> make_image_properties_filter(const SchedulerOptions&) {
  return std::make_unique<ImagePropertiesFilter>();
}

}  // namespace gpucloud::scheduler
