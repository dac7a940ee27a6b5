// `gpucloud gpu-check`: the Cloud Controller's admission check from the command line. Reads
// pci_devices through cloudcontroller.ini's gpu_query (SELECT only) and says whether N GPUs of a
// model are free. Exit 0: enough free; 1: not enough; 2: configuration or database error.
#include <cstdio>

#include "cli/commands.h"
#include "controller/controller.h"

namespace gpucloud::cli {
namespace {

struct GpuCheckArgs {
  std::string config;
  std::vector<std::string> nova_config;
  std::string product_id;
  std::string alias;
  int count = 1;
  std::string format = "text";
};

int gpu_check_fail(const std::string& message) {
  std::fprintf(stderr, "gpucloud gpu-check: %s\n", message.c_str());
  return 2;
}

int run_gpu_check(const GpuCheckArgs& a) {
  auto settings = controller::load_settings({a.config, a.nova_config, ""});
  if (!settings.ok()) return gpu_check_fail(settings.error().message);
  const auto& cc = (*settings)->cloudcontroller;
  if (!cc.gpu_query) return gpu_check_fail(a.config + ": no openstack.gpu_query: nothing to check");

  std::vector<ProductId> configured;
  for (const auto& p : cc.gpu_pci_ids) configured.push_back(p.value);
  // Which models count: one product, an alias's products, or every configured model (each on its
  // own: a boot asks for one model).
  std::vector<ProductId> selected;
  if (!a.product_id.empty()) {
    auto id = HexId::parse(a.product_id, "--product-id");
    if (!id.ok()) return gpu_check_fail(id.error().message);
    selected.push_back(*id);
  } else if (!a.alias.empty()) {
    if (!(*settings)->nova)
      return gpu_check_fail("--alias needs --nova-config (the file with [pci] alias)");
    auto entries = (*settings)->nova->aliases.find(a.alias);
    if (entries.empty())
      return gpu_check_fail("no PCI alias named '" + a.alias + "' in --nova-config");
    for (const PciAlias* e : entries) {
      if (!e->product_id) return gpu_check_fail("alias '" + a.alias + "' matches any product id");
      selected.push_back(*e->product_id);
    }
  }
  auto report =
      controller::read_gpu_report(cc.gpu_query->value, selected.empty() ? configured : selected);
  if (!report.ok()) return gpu_check_fail(report.error().message);

  bool enough = false;
  if (!selected.empty()) {
    enough = report->free_of(selected) >= a.count;
  } else {
    for (const auto& g : report->products) enough = enough || g.count.free >= a.count;
  }
  if (a.format == "json") {
    std::fputs(controller::report_json(*report, a.count, enough).c_str(), stdout);
  } else {
    std::fputs(controller::report_text(*report).c_str(), stdout);
    std::printf("%s: %d GPU%s %s\n", enough ? "ok" : "not enough", a.count, a.count == 1 ? "" : "s",
                enough ? "free" : "free of any one model asked");
  }
  return enough ? 0 : 1;
}

}  // namespace

void register_gpu_check(CLI::App& app) {
  auto args = std::make_shared<GpuCheckArgs>();
  auto* cmd = app.add_subcommand(
      "gpu-check", "are N GPUs of a model free? (cloudcontroller.ini's gpu_query; exit 0/1/2)");
  cmd->add_option("--config", args->config, "cloudcontroller.ini")->required();
  cmd->add_option("--nova-config", args->nova_config, "nova.conf files (for --alias)");
  auto* pid = cmd->add_option("--product-id", args->product_id, "PCI product id, e.g. 11bf");
  cmd->add_option("--alias", args->alias, "PCI alias from nova.conf, e.g. K2_Grid")->excludes(pid);
  cmd->add_option("--count", args->count, "GPUs wanted (default 1)")->check(CLI::Range(1, 100000));
  cmd->add_option("--format", args->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->callback([args] { set_exit_code(run_gpu_check(*args)); });
}

}  // namespace gpucloud::cli
