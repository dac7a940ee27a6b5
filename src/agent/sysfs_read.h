// Small readers for sysfs and procfs attribute files, private to the agent module.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpucloud::agent {

// The whole file with trailing whitespace removed; nullopt when it cannot be read.
std::optional<std::string> read_sysfs_text(const std::filesystem::path& file);
// A decimal integer ("-1", "0").
std::optional<int> read_sysfs_int(const std::filesystem::path& file);
// "0x..." hexadecimal or plain decimal.
std::optional<uint64_t> parse_sysfs_u64(std::string_view text);
// The last path component of a symlink's target (driver -> ../../bus/pci/drivers/vfio-pci gives
// "vfio-pci"); nullopt when `link` is not a symlink.
std::optional<std::string> read_link_name(const std::filesystem::path& link);
// The names in a folder, sorted; nullopt when it cannot be listed. Never throws: devices come
// and go (hotplug, VFs being created) while we read.
std::optional<std::vector<std::string>> list_dir(const std::filesystem::path& dir);

}  // namespace gpucloud::agent
