// `gpucloud scheduler explain --config nova.conf --scenario FILE.json [--format text|json]`:
// runs the filter scheduler on a scenario (hosts, aggregates, one request) with the filters,
// aliases and ratios of nova.conf, and prints every filter's verdict per host, the weights and
// the chosen hosts. Exit status: 0 placed, 2 no valid host, 1 bad input.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "config/config.h"
#include "scheduler/scheduler.h"

namespace gpucloud::cli {
namespace {

struct ExplainArgs {
  std::vector<std::string> configs;
  std::string scenario;
  std::string format = "text";
};

Result<scheduler::SchedulerOptions> options_from(const std::vector<std::string>& paths) {
  std::vector<config::IniFile> files;
  for (const auto& p : paths) {
    auto f = config::IniFile::load(p);
    if (!f.ok()) return f.error();
    files.push_back(std::move(f.value()));
  }
  config::NovaConfig nova = config::load_nova_config(files);
  if (nova.has_errors()) {
    std::string all;
    for (const auto& p : nova.problems) {
      if (!p.warning) all += (all.empty() ? "" : "\n") + p.to_string();
    }
    return Error::invalid(all);
  }
  return scheduler::options_from(nova);
}

int run_explain(const ExplainArgs& args) {
  auto options = options_from(args.configs);
  if (!options.ok()) {
    std::fprintf(stderr, "error: %s\n", options.error().message.c_str());
    return 1;
  }
  std::ifstream in(args.scenario);
  if (!in) {
    std::fprintf(stderr, "error: %s: cannot read the scenario file\n", args.scenario.c_str());
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto scenario = scheduler::parse_scenario(text.str(), *options);
  if (!scenario.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", args.scenario.c_str(),
                 scenario.error().message.c_str());
    return 1;
  }
  auto sched = scheduler::Scheduler::create(*options);
  if (!sched.ok()) {
    std::fprintf(stderr, "error: %s\n", sched.error().message.c_str());
    return 1;
  }
  auto selection = sched->select(scenario->hosts, scenario->request, /*explain=*/true);
  std::string out = args.format == "json" ? explain_json(*sched, *scenario, selection)
                                          : explain_text(*sched, *scenario, selection);
  std::fputs(out.c_str(), stdout);
  return selection.ok() ? 0 : 2;
}

}  // namespace

void register_scheduler_explain(CLI::App& app) {
  auto* group = subcommand_group(app, "scheduler", "the filter scheduler");
  auto args = std::make_shared<ExplainArgs>();
  auto* cmd = group->add_subcommand(
      "explain", "show every filter's verdict, the weights and the chosen hosts for a scenario");
  cmd->add_option("--config", args->configs, "nova.conf (repeat for nova-compute.conf, ...)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--scenario", args->scenario, "scenario JSON (docs/scheduler.md)")->required();
  cmd->add_option("--format", args->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->callback([args] { set_exit_code(run_explain(*args)); });
}

}  // namespace gpucloud::cli
