// `gpucloud host doctor [--config FILE...] [--sysfs-root DIR] [--proc-root DIR] [--dev-root DIR]
// [--format text|json]`: can this host pass GPUs through to VMs? Prints each finding with its
// severity and what to do. Exit status: 0 ready, 1 not ready, 2 cannot tell.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "cli/commands.h"

namespace gpucloud::cli {
namespace {

struct DoctorOptions {
  std::vector<std::string> configs;
  std::string sysfs_root = "/sys";
  std::string proc_root = "/proc";
  std::string dev_root = "/dev";
  std::string format = "text";
};

void print_text(const agent::DoctorReport& report) {
  size_t subject_width = 7, check_width = 5;
  for (const auto& f : report.findings) {
    subject_width = std::max(subject_width, f.subject.size());
    check_width = std::max(check_width, f.check.size());
  }
  const std::string indent(9 + subject_width + 2 + check_width + 2, ' ');
  for (const auto& f : report.findings) {
    std::printf("%-9s%-*s  %-*s  %s\n", agent::to_string(f.severity),
                static_cast<int>(subject_width), f.subject.c_str(), static_cast<int>(check_width),
                f.check.c_str(), f.what.c_str());
    if (f.severity != agent::Severity::kOk && !f.todo.empty()) {
      std::printf("%sto do: %s\n", indent.c_str(), f.todo.c_str());
    }
  }
  int errors = 0, warnings = 0;
  for (const auto& f : report.findings) {
    errors += f.severity == agent::Severity::kError;
    warnings += f.severity == agent::Severity::kWarning;
  }
  std::printf("host: %s (%d error%s, %d warning%s)\n", agent::to_string(report.readiness()), errors,
              errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
}

int run(const DoctorOptions& opt) {
  auto config = agent::load_pci_config(opt.configs);
  if (!config) {
    // Without the device specs the doctor cannot know which devices to check.
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return 2;
  }
  for (const auto& w : config->warnings) std::fprintf(stderr, "%s\n", w.c_str());
  const agent::HostRoots roots{opt.sysfs_root, opt.proc_root, opt.dev_root};
  const agent::DoctorReport report = agent::run_host_doctor(
      agent::take_host_snapshot(roots, config->device_specs, config->aliases));
  if (opt.format == "json") {
    std::printf("%s\n", agent::doctor_report_to_json(report).c_str());
  } else {
    print_text(report);
  }
  return report.exit_code();
}

}  // namespace

void register_host_doctor(CLI::App& app) {
  auto* host = subcommand_group(app, "host", "this KVM host");
  auto* doctor = host->add_subcommand(
      "doctor",
      "check what GPU passthrough needs: KVM, the IOMMU, and for each allowed device "
      "its IOMMU group, driver, reset and BAR sizes; exit 0 ready, 1 not, 2 cannot tell");
  auto opt = std::make_shared<DoctorOptions>();
  doctor->add_option("--config", opt->configs, "nova.conf-like files, merged in order");
  doctor->add_option("--sysfs-root", opt->sysfs_root, "where sysfs is mounted")
      ->capture_default_str();
  doctor->add_option("--proc-root", opt->proc_root, "where procfs is mounted")
      ->capture_default_str();
  doctor->add_option("--dev-root", opt->dev_root, "where /dev is (for /dev/kvm)")
      ->capture_default_str();
  doctor->add_option("--format", opt->format, "output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  doctor->callback([opt] { set_exit_code(run(*opt)); });
}

}  // namespace gpucloud::cli
