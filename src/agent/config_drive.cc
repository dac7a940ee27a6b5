// Config drive contents and ISO. Why NoCloud: gpucloud has no metadata service, so the drive is
// the guest's only source; NoCloud is cloud-init's own format (three files at the ISO root) and
// needs no OpenStack metadata layout.
//
// configure_x and the user's own user data: the user's data is kept byte for byte as one part of
// a MIME multipart message, and gpucloud's #cloud-config (write_files for xorg.conf) is a second
// part. cloud-init handles every part type it knows (scripts, cloud-config, boothooks, even a
// nested multipart), so nothing of the user's is parsed or rewritten. The gpucloud part carries
// Merge-Type list(append)+dict(no_replace,recurse_list): its write_files entry is appended to the
// user's write_files instead of replacing them (cloud-init's default merge replaces lists).
#include "agent/config_drive.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <fstream>

#include "agent/libvirt_command.h"

namespace gpucloud::agent {
namespace {

bool truthy(const std::string& v) {
  std::string l;
  for (char c : v) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return l == "true" || l == "1" || l == "yes" || l == "on";
}

// 2.90's hostname as the API checked it; else one made from the name, as nova does.
std::string hostname_of(const store::Instance& instance) {
  if (auto it = instance.system_metadata.find("hostname");
      it != instance.system_metadata.end() && !it->second.empty()) {
    return it->second;
  }
  std::string h;
  for (char c : instance.name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      h += static_cast<char>(std::tolower(u));
    } else if (!h.empty() && h.back() != '-') {
      h += '-';
    }
  }
  while (!h.empty() && h.back() == '-') h.pop_back();
  if (h.size() > 63) h.resize(63);
  if (h.empty()) h = "instance-" + instance.uuid.substr(0, 8);
  return h;
}

// A YAML double-quoted scalar: whatever the text holds (a key's comment is free text), it stays
// one string value.
std::string yaml_quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string encode_base64(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  int line = 0;
  while (i < in.size()) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    size_t len = std::min<size_t>(3, in.size() - i);
    if (len > 1) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (len > 2) n |= static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += len > 1 ? kAlphabet[(n >> 6) & 63] : '=';
    out += len > 2 ? kAlphabet[n & 63] : '=';
    i += 3;
    if (++line == 19) {  // 76 characters per line, as MIME wants
      out += '\n';
      line = 0;
    }
  }
  if (line != 0) out += '\n';
  return out;
}

std::string x_cloud_config(const std::vector<GuestGpu>& gpus) {
  std::string conf = xorg_conf(gpus);
  std::string y =
      "#cloud-config\n"
      "# gpucloud: configure_x=true; the GPU's guest PCI address is fixed by the domain.\n"
      "write_files:\n"
      "  - path: /etc/X11/xorg.conf\n"
      "    owner: root:root\n"
      "    permissions: '0644'\n"
      "    content: |\n";
  size_t start = 0;
  while (start < conf.size()) {
    size_t end = conf.find('\n', start);
    if (end == std::string::npos) end = conf.size();
    std::string line = conf.substr(start, end - start);
    y += line.empty() ? "\n" : "      " + line + "\n";
    start = end + 1;
  }
  return y;
}

bool is_mime(const std::string& data) {
  auto starts = [&](const char* p) {
    std::string l = data.substr(0, std::string(p).size());
    for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return l == p;
  };
  return starts("content-type:") || starts("mime-version:");
}

std::string multipart(const std::string& user, const std::string& ours, const std::string& uuid) {
  std::string boundary = "==gpucloud-" + uuid + "==";
  std::string m =
      "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\nMIME-Version: 1.0\n\n";
  if (!user.empty()) {
    m += "--" + boundary + "\n";
    if (is_mime(user)) {
      m += user;  // its headers become the part's headers; cloud-init walks nested multiparts
      if (user.back() != '\n') m += "\n";
    } else {
      // x-not-multipart: cloud-init detects the type from the first line, as it would have
      // for the bare user data; base64 keeps any bytes intact.
      m += "Content-Type: text/x-not-multipart; charset=\"utf-8\"\n"
           "MIME-Version: 1.0\n"
           "Content-Transfer-Encoding: base64\n"
           "Content-Disposition: attachment; filename=\"user-data\"\n\n";
      m += encode_base64(user);
    }
  }
  m += "--" + boundary + "\n";
  m += "Content-Type: text/cloud-config; charset=\"us-ascii\"\n"
       "MIME-Version: 1.0\n"
       "Content-Transfer-Encoding: 7bit\n"
       "Content-Disposition: attachment; filename=\"gpucloud-xorg.cfg\"\n"
       "Merge-Type: list(append)+dict(no_replace,recurse_list)+str()\n\n";
  m += ours;
  m += "--" + boundary + "--\n";
  return m;
}

Status write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) return Error::internal(path + ": cannot write");
  return {};
}

}  // namespace

std::string xorg_bus_id(const PciAddress& a) {
  return "PCI:" + std::to_string(a.bus) + ":" + std::to_string(a.slot) + ":" +
         std::to_string(a.function);
}

std::string xorg_conf(const std::vector<GuestGpu>& gpus) {
  std::string c = "# Written by cloud-init for gpucloud (image property configure_x=true).\n";
  for (size_t i = 0; i < gpus.size(); ++i) {
    const auto& g = gpus[i];
    std::string driver;
    if (g.vendor_id.str() == "10de") driver = "nvidia";
    if (g.vendor_id.str() == "1002") driver = "amdgpu";
    c += "\nSection \"Device\"\n";
    c += "    Identifier \"gpu" + std::to_string(i) + "\"\n";
    if (!driver.empty()) c += "    Driver \"" + driver + "\"\n";
    c += "    BusID \"" + xorg_bus_id(g.guest) + "\"\n";
    c += "EndSection\n";
  }
  if (!gpus.empty()) {
    c += "\nSection \"Screen\"\n    Identifier \"screen0\"\n    Device \"gpu0\"\nEndSection\n";
  }
  return c;
}

Result<std::string> decode_base64(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=') {
      ++pad;
      continue;
    } else if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
      continue;
    else
      return Error::invalid("user_data: not base64 (character '" + std::string(1, c) + "')");
    if (pad) return Error::invalid("user_data: not base64 (data after '=' padding)");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) return Error::invalid("user_data: not base64 (truncated)");
  return out;
}

Result<ConfigDriveFiles> make_config_drive_files(const store::Instance& instance,
                                                 const store::Image& image,
                                                 const std::vector<GuestGpu>& gpus) {
  ConfigDriveFiles f;
  f.meta_data =
      "instance-id: " + instance.uuid + "\nlocal-hostname: " + hostname_of(instance) + "\n";
  // The key pair named at boot (or rebuild), as cloud-init's NoCloud source reads it.
  if (auto it = instance.system_metadata.find("key_data");
      it != instance.system_metadata.end() && !it->second.empty()) {
    f.meta_data += "public-keys:\n  - " + yaml_quoted(it->second) + "\n";
  }
  f.network_config =
      "version: 2\n"
      "ethernets:\n"
      "  all-ethernet:\n"
      "    match:\n"
      "      name: \"e*\"\n"
      "    dhcp4: true\n";
  auto user = decode_base64(instance.user_data);
  if (!user.ok()) return user.error();
  auto it = image.properties.find("configure_x");
  bool configure_x = it != image.properties.end() && truthy(it->second) && !gpus.empty();
  if (!configure_x) {
    f.user_data = *user;
    return f;
  }
  f.gpucloud_cloud_config = x_cloud_config(gpus);
  f.user_data = user->empty() ? f.gpucloud_cloud_config
                              : multipart(*user, f.gpucloud_cloud_config, instance.uuid);
  return f;
}

Status write_config_drive_iso(const ConfigDriveFiles& files, const std::string& work_dir,
                              const std::string& iso_path) {
  std::string dir = work_dir + "/cidata";
  ::mkdir(work_dir.c_str(), 0700);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::internal(dir + ": cannot create");
  }
  for (auto [name, text] :
       {std::pair{"meta-data", &files.meta_data}, std::pair{"user-data", &files.user_data},
        std::pair{"network-config", &files.network_config}}) {
    if (auto s = write_file(dir + "/" + name, *text); !s.ok()) return s;
  }
  return run_checked({"genisoimage", "-quiet", "-output", iso_path, "-volid", "cidata", "-joliet",
                      "-rock", dir + "/meta-data", dir + "/user-data", dir + "/network-config"});
}

}  // namespace gpucloud::agent
