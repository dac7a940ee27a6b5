// Counting GPUs per product and compute node from pci_devices rows, and printing the result.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "controller/controller.h"

namespace gpucloud::controller {
namespace {

void add(GpuCount& c, store::PciDeviceStatus s, int n) {
  using S = store::PciDeviceStatus;
  switch (s) {
    case S::kAvailable:
      c.free += n;
      break;
    case S::kClaimed:
    case S::kAllocated:
      c.in_use += n;
      break;
    case S::kUnavailable:
    case S::kUnclaimable:
    case S::kCleaning:  // given back, not free until its host has reset and checked it
      c.unavailable += n;
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

GpuReport count_gpus(const std::vector<store::PciDeviceCount>& counts,
                     const std::vector<ProductId>& products) {
  GpuReport r;
  for (const auto& p : products) {
    if (!r.find(p)) r.products.push_back(ProductGpus{p, {}, {}});
  }
  std::vector<ProductId> seen;  // asked for none: every product, in id order
  if (products.empty()) {
    for (const auto& c : counts) seen.push_back(c.product_id);
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (const auto& p : seen) r.products.push_back(ProductGpus{p, {}, {}});
  }
  for (const auto& c : counts) {
    auto it = std::find_if(r.products.begin(), r.products.end(),
                           [&](const ProductGpus& g) { return g.product_id == c.product_id; });
    if (it == r.products.end()) continue;
    const int n = static_cast<int>(c.count);
    add(it->count, c.status, n);
    if (c.compute_node_id == 0) continue;  // counted without nodes (nova's ids start at 1)
    auto& node = it->by_compute_node[c.compute_node_id];
    add(node, c.status, n);
    // Keep nodes whose devices were all removed out of the listing.
    if (node.total() == 0) it->by_compute_node.erase(c.compute_node_id);
  }
  return r;
}

GpuReader::GpuReader(DatabaseUrl url, std::unique_ptr<store::PciDeviceCounter> counter)
    : url_(std::move(url)), counter_(std::move(counter)) {}
GpuReader::~GpuReader() = default;

namespace {

// The store names the redacted URL; never let the password through in any case.
Error without_password(Error e, const DatabaseUrl& url) {
  if (url.has_password() && !url.password().empty()) {
    for (size_t at; (at = e.message.find(url.password())) != std::string::npos;)
      e.message.replace(at, url.password().size(), "***");
  }
  return e;
}

}  // namespace

Result<std::unique_ptr<GpuReader>> GpuReader::open(const DatabaseUrl& url) {
  if (!url.is_sqlite() && !url.is_mysql()) {
    return Error::invalid("gpu_query " + url.redacted() + ": unsupported database '" +
                          url.dialect() + "' (mysql:// or sqlite:///)");
  }
  auto counter = store::PciDeviceCounter::open(url.text());
  if (!counter.ok()) return without_password(counter.error(), url);
  return std::unique_ptr<GpuReader>(new GpuReader(url, std::move(*counter)));
}

Result<GpuReport> GpuReader::read(const std::vector<ProductId>& products, bool per_node) {
  auto counts = counter_->count(products, per_node);
  // A kept connection the database dropped (restart, wait_timeout) fails once and is discarded:
  // one more try runs on a new connection.
  if (!counts.ok() && counts.error().code == ErrorCode::kUnavailable)
    counts = counter_->count(products, per_node);
  if (!counts.ok()) return without_password(counts.error(), url_);
  GpuReport r = count_gpus(*counts, products);
  r.source = url_.redacted();
  return r;
}

Result<GpuReport> read_gpu_report(const DatabaseUrl& url, const std::vector<ProductId>& products) {
  auto reader = GpuReader::open(url);
  if (!reader.ok()) return reader.error();
  return (*reader)->read(products);
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
