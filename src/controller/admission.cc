// Which configured GPU models a flavor asks for, and whether that many are free. Advisory: the
// store's claim stays the authority (two boots may both pass the check; one claim then fails).
#include <fmt/format.h>

#include <algorithm>

#include "controller/controller.h"

namespace gpucloud::controller {

Result<std::vector<GpuAsk>> gpu_asks(const std::map<std::string, std::string>& extra_specs,
                                     const AliasTable& aliases,
                                     const std::vector<ProductId>& gpu_pci_ids) {
  std::vector<GpuAsk> out;
  auto it = extra_specs.find("pci_passthrough:alias");
  if (it == extra_specs.end()) return out;
  auto requests = parse_pci_passthrough_alias(it->second);
  if (!requests.ok()) return requests.error();
  for (const auto& req : *requests) {
    GpuAsk ask{req.alias, {}, req.count};
    for (const PciAlias* a : aliases.find(req.alias)) {
      // An alias without a product id matches any device: it names no model to check.
      if (!a->product_id) continue;
      bool configured =
          std::find(gpu_pci_ids.begin(), gpu_pci_ids.end(), *a->product_id) != gpu_pci_ids.end();
      bool seen =
          std::find(ask.products.begin(), ask.products.end(), *a->product_id) != ask.products.end();
      if (configured && !seen) ask.products.push_back(*a->product_id);
    }
    if (!ask.products.empty()) out.push_back(std::move(ask));
  }
  return out;
}

Status check_admission(const std::vector<GpuAsk>& asks, int instances, const GpuReport& report) {
  // Several asks may name the same model (a:1,b:1 with one product): add them up per model set.
  std::vector<std::pair<std::vector<ProductId>, int>> need;
  std::vector<std::string> names;
  for (const auto& a : asks) {
    auto it = std::find_if(need.begin(), need.end(),
                           [&](const auto& n) { return n.first == a.products; });
    if (it == need.end()) {
      need.push_back({a.products, 0});
      names.push_back(a.alias);
      it = need.end() - 1;
    }
    it->second += a.count * std::max(instances, 1);
  }
  for (size_t k = 0; k < need.size(); ++k) {
    const auto& [products, asked] = need[k];
    const int free = report.free_of(products);
    if (free >= asked) continue;
    std::string model;
    for (const auto& p : products) model += (model.empty() ? "" : "/") + p.str();
    return Error::conflict(fmt::format("Not enough GPUs of model {} (alias {}): {} asked, {} free",
                                       model, names[k], asked, free));
  }
  return Status{};
}

}  // namespace gpucloud::controller
