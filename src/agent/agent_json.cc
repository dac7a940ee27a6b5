// JSON shapes of discovery and of the host doctor, kept in one place so that the CLI and the
// agent's reports to the server say the same thing.
#include <nlohmann/json.hpp>

#include "agent/host_doctor.h"
#include "agent/pci_discovery.h"

namespace gpucloud::agent {
namespace {

nlohmann::json optional_int(const std::optional<int>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json device_json(const DiscoveredDevice& d) {
  nlohmann::json bars = nlohmann::json::array();
  for (const auto& bar : d.bars) {
    bars.push_back({{"index", bar.index},
                    {"size", bar.size},
                    {"type", bar.io ? "io" : "mem"},
                    {"64bit", bar.is_64bit},
                    {"prefetchable", bar.prefetchable}});
  }
  nlohmann::json virtfns = nlohmann::json::array();
  for (const auto& vf : d.virtfns) virtfns.push_back(vf.to_string());
  auto id_or_null = [](const std::optional<HexId>& id) {
    return id ? nlohmann::json(id->str()) : nlohmann::json(nullptr);
  };
  return {
      {"address", d.device.address.to_string()},
      {"vendor_id", d.device.vendor_id.str()},
      {"product_id", d.device.product_id.str()},
      {"class", d.class_string()},
      {"subsystem_vendor_id", id_or_null(d.subsystem_vendor_id)},
      {"subsystem_device_id", id_or_null(d.subsystem_device_id)},
      {"vendor_name", d.vendor_name},
      {"product_name", d.product_name},
      {"numa_node", optional_int(d.device.numa_node)},
      {"iommu_group", optional_int(d.iommu_group)},
      {"driver", d.driver.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.driver)},
      {"pcie_switch",
       d.pcie_switch.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.pcie_switch)},
      {"dev_type", to_string(d.device.dev_type)},
      {"parent_addr",
       d.device.parent_addr ? nlohmann::json(d.device.parent_addr->to_string()) : nullptr},
      {"virtfns", virtfns},
      {"sriov_totalvfs", optional_int(d.sriov_totalvfs)},
      {"devname",
       d.device.devname.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.device.devname)},
      {"reset_method", d.reset_methods},
      {"can_reset", d.can_reset()},
      {"bars", bars},
      {"allowed", d.allowed},
      {"aliases", d.aliases},
  };
}

}  // namespace

std::string devices_to_json(const std::vector<DiscoveredDevice>& devices, int indent) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : devices) out.push_back(device_json(d));
  return out.dump(indent);
}

std::string doctor_report_to_json(const DoctorReport& report, int indent) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : report.findings) {
    findings.push_back({{"severity", to_string(f.severity)},
                        {"check", f.check},
                        {"subject", f.subject},
                        {"what", f.what},
                        {"todo", f.todo},
                        {"conclusive", f.conclusive}});
  }
  nlohmann::json out = {{"readiness", to_string(report.readiness())},
                        {"exit_code", report.exit_code()},
                        {"findings", findings}};
  return out.dump(indent);
}

}  // namespace gpucloud::agent
