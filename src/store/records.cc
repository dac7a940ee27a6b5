// Spellings of the store's enums, as nova and glance write them.
#include <array>
#include <string>

#include "store/store.h"

namespace gpucloud::store {
namespace {

template <typename E, size_t N>
Result<E> parse_enum(std::string_view text, const std::array<const char*, N>& names,
                     std::string_view what) {
  for (size_t i = 0; i < N; ++i) {
    if (text == names[i]) return static_cast<E>(i);
  }
  return Error::invalid(std::string(what) + ": unknown value '" + std::string(text) + "'");
}

constexpr std::array<const char*, 8> kImageStatus = {"queued",    "saving",     "active",
                                                     "killed",    "deleted",    "pending_delete",
                                                     "importing", "deactivated"};
constexpr std::array<const char*, 3> kMemberStatus = {"pending", "accepted", "rejected"};
constexpr std::array<const char*, 4> kVisibility = {"public", "private", "shared", "community"};
constexpr std::array<const char*, 6> kServerStatus = {"BUILD",   "ACTIVE",  "ERROR",
                                                      "SHUTOFF", "DELETED", "SHELVED_OFFLOADED"};
constexpr std::array<const char*, 3> kReadiness = {"waiting", "ready", "timed_out"};
constexpr std::array<const char*, 8> kPciStatus = {"available", "claimed",     "allocated",
                                                   "removed",   "unavailable", "unclaimable",
                                                   "deleted",   "cleaning"};

}  // namespace

const char* to_string(ImageStatus s) { return kImageStatus[static_cast<size_t>(s)]; }
const char* to_string(ImageMemberStatus s) { return kMemberStatus[static_cast<size_t>(s)]; }
const char* to_string(ImageVisibility v) { return kVisibility[static_cast<size_t>(v)]; }
const char* to_string(ServerStatus s) { return kServerStatus[static_cast<size_t>(s)]; }
const char* to_string(Readiness r) { return kReadiness[static_cast<size_t>(r)]; }
const char* to_string(PciDeviceStatus s) { return kPciStatus[static_cast<size_t>(s)]; }

const char* to_string(MetadefKind k) {
  switch (k) {
    case MetadefKind::kObject:
      return "object";
    case MetadefKind::kProperty:
      return "property";
    case MetadefKind::kTag:
      return "tag";
  }
  return "?";
}

Result<ImageStatus> parse_image_status(std::string_view t) {
  return parse_enum<ImageStatus>(t, kImageStatus, "image status");
}
Result<ImageMemberStatus> parse_image_member_status(std::string_view t) {
  return parse_enum<ImageMemberStatus>(t, kMemberStatus, "image member status");
}
Result<ImageVisibility> parse_image_visibility(std::string_view t) {
  return parse_enum<ImageVisibility>(t, kVisibility, "visibility");
}
Result<ServerStatus> parse_server_status(std::string_view t) {
  return parse_enum<ServerStatus>(t, kServerStatus, "server status");
}
Result<Readiness> parse_readiness(std::string_view t) {
  return parse_enum<Readiness>(t, kReadiness, "readiness");
}
Result<PciDeviceStatus> parse_pci_device_status(std::string_view t) {
  return parse_enum<PciDeviceStatus>(t, kPciStatus, "pci device status");
}

}  // namespace gpucloud::store
