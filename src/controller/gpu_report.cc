// Counting GPUs per product and compute node from pci_devices rows, and printing the result.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "controller/controller.h"

namespace gpucloud::controller {
namespace {

void add(GpuCount& c, store::PciDeviceStatus s) {
  using S = store::PciDeviceStatus;
  switch (s) {
    case S::kAvailable:
      ++c.free;
      break;
    case S::kClaimed:
    case S::kAllocated:
      ++c.in_use;
      break;
    case S::kUnavailable:
    case S::kUnclaimable:
      ++c.unavailable;
      break;
    case S::kRemoved:
    case S::kDeleted:
      break;  // gone from the host: not a device any more
  }
}

nlohmann::json count_json(const GpuCount& c) {
  return {
      {"free", c.free}, {"in_use", c.in_use}, {"unavailable", c.unavailable}, {"total", c.total()}};
}

}  // namespace

const ProductGpus* GpuReport::find(const ProductId& p) const {
  for (const auto& g : products)
    if (g.product_id == p) return &g;
  return nullptr;
}

int GpuReport::free_of(const std::vector<ProductId>& wanted) const {
  int n = 0;
  for (const auto& p : wanted)
    if (const auto* g = find(p)) n += g->count.free;
  return n;
}

GpuReport count_gpus(const std::vector<store::PciDeviceRecord>& rows,
                     const std::vector<ProductId>& products) {
  GpuReport r;
  for (const auto& p : products) {
    if (!r.find(p)) r.products.push_back(ProductGpus{p, {}, {}});
  }
  for (const auto& row : rows) {
    if (row.deleted != 0) continue;  // nova's soft delete
    auto it = std::find_if(r.products.begin(), r.products.end(),
                           [&](const ProductGpus& g) { return g.product_id == row.product_id; });
    if (it == r.products.end()) {
      if (!products.empty()) continue;
      r.products.push_back(ProductGpus{row.product_id, {}, {}});
      it = r.products.end() - 1;
    }
    add(it->count, row.status);
    auto& node = it->by_compute_node[row.compute_node_id];
    add(node, row.status);
    // Keep nodes whose devices were all removed out of the listing.
    if (node.total() == 0) it->by_compute_node.erase(row.compute_node_id);
  }
  return r;
}

Result<GpuReport> read_gpu_report(const DatabaseUrl& url, const std::vector<ProductId>& products) {
  if (!url.is_sqlite() && !url.is_mysql()) {
    return Error::invalid("gpu_query " + url.redacted() + ": unsupported database '" +
                          url.dialect() + "' (mysql:// or sqlite:///)");
  }
  auto rows = store::read_pci_devices(url.text());
  if (!rows.ok()) {
    Error e = rows.error();
    // The store names the redacted URL; never let the password through in any case.
    if (url.has_password() && !url.password().empty()) {
      for (size_t at; (at = e.message.find(url.password())) != std::string::npos;)
        e.message.replace(at, url.password().size(), "***");
    }
    return e;
  }
  GpuReport r = count_gpus(*rows, products);
  r.source = url.redacted();
  return r;
}

std::string report_text(const GpuReport& r) {
  std::string out = fmt::format("pci_devices in {}\n", r.source);
  out += fmt::format("{:<10} {:>6} {:>7} {:>12} {:>6}\n", "product", "free", "in-use",
                     "unavailable", "total");
  for (const auto& g : r.products) {
    out += fmt::format("{:<10} {:>6} {:>7} {:>12} {:>6}\n", g.product_id.str(), g.count.free,
                       g.count.in_use, g.count.unavailable, g.count.total());
    for (const auto& [node, c] : g.by_compute_node) {
      out += fmt::format("  node {:<3} {:>6} {:>7} {:>12} {:>6}\n", node, c.free, c.in_use,
                         c.unavailable, c.total());
    }
  }
  return out;
}

std::string report_json(const GpuReport& r, std::optional<int> wanted, bool enough) {
  nlohmann::json products = nlohmann::json::array();
  for (const auto& g : r.products) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& [node, c] : g.by_compute_node) {
      auto j = count_json(c);
      j["compute_node_id"] = node;
      nodes.push_back(std::move(j));
    }
    auto j = count_json(g.count);
    j["product_id"] = g.product_id.str();
    j["compute_nodes"] = std::move(nodes);
    products.push_back(std::move(j));
  }
  nlohmann::json out = {{"source", r.source}, {"products", std::move(products)}};
  if (wanted) {
    out["wanted"] = *wanted;
    out["enough"] = enough;
  }
  return out.dump(2) + "\n";
}

}  // namespace gpucloud::controller
