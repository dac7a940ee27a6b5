// The config drive: Xorg BusIDs, base64, user data with and without configure_x (checked with
// cloud-init's own schema validator and user-data processor when cloud-init is installed), and
// the ISO read back with isoinfo.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/agent.h"
#include "agent/libvirt_command.h"

namespace gpucloud::agent {
namespace {

PciAddress addr(const char* text) { return PciAddress::parse(text).value(); }

std::string b64(const std::string& s) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < s.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) n |= static_cast<unsigned char>(s[i + 1]) << 8;
    if (i + 2 < s.size()) n |= static_cast<unsigned char>(s[i + 2]);
    out += k[(n >> 18) & 63];
    out += k[(n >> 12) & 63];
    out += i + 1 < s.size() ? k[(n >> 6) & 63] : '=';
    out += i + 2 < s.size() ? k[n & 63] : '=';
  }
  return out;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/gpucloud-cd-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

bool have(const char* tool) {
  auto r = run_command({tool, "--help"});
  return r.ok();
}

// `cloud-init schema` on a cloud-config text: "" when valid, else its output.
std::string schema_errors(const std::string& dir, const std::string& cloud_config) {
  auto r =
      run_command({"cloud-init", "schema", "--config-file", write(dir + "/cc.yaml", cloud_config)});
  if (!r.ok()) return r.error().message;
  return r->exit_code == 0 ? "" : r->output;
}

store::Instance instance(const std::string& user_data) {
  store::Instance i;
  i.uuid = "6f0e2c3a-1b7d-4c1e-9a55-0123456789ab";
  i.name = "My GPU box #1";
  i.user_data = b64(user_data);
  return i;
}

store::Image x_image() {
  store::Image img;
  img.properties["configure_x"] = "true";
  return img;
}

std::vector<GuestGpu> one_gpu() {
  return {{addr("0000:01:00.0"), VendorId::parse("10de").value()}};
}

TEST(XorgBusId, DecimalBusDeviceFunction) {
  EXPECT_EQ(xorg_bus_id(addr("0000:01:00.0")), "PCI:1:0:0");
  EXPECT_EQ(xorg_bus_id(addr("0000:00:10.0")), "PCI:0:16:0");
  EXPECT_EQ(xorg_bus_id(addr("0000:1a:1f.7")), "PCI:26:31:7");
}

TEST(XorgConf, OneDeviceSectionPerGpu) {
  std::string c = xorg_conf({{addr("0000:01:00.0"), VendorId::parse("10de").value()},
                             {addr("0000:02:00.0"), VendorId::parse("1002").value()}});
  EXPECT_NE(c.find("Identifier \"gpu0\"\n    Driver \"nvidia\"\n    BusID \"PCI:1:0:0\""),
            std::string::npos)
      << c;
  EXPECT_NE(c.find("Identifier \"gpu1\"\n    Driver \"amdgpu\"\n    BusID \"PCI:2:0:0\""),
            std::string::npos)
      << c;
}

TEST(Base64, DecodesAndRejects) {
  EXPECT_EQ(decode_base64("").value(), "");
  EXPECT_EQ(decode_base64("aGVsbG8=").value(), "hello");
  EXPECT_EQ(decode_base64("aGVs\nbG8h").value(), "hello!");
  EXPECT_EQ(decode_base64(b64(std::string("\0\xff\x10", 3))).value(), std::string("\0\xff\x10", 3));
  EXPECT_FALSE(decode_base64("aGV*").ok());
  EXPECT_FALSE(decode_base64("aGVsbG8=x").ok());
  EXPECT_FALSE(decode_base64("a").ok());
}

TEST(ConfigDrive, MetaDataAndNetwork) {
  auto f = make_config_drive_files(instance(""), store::Image{}, {});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->meta_data,
            "instance-id: 6f0e2c3a-1b7d-4c1e-9a55-0123456789ab\nlocal-hostname: my-gpu-box-1\n");
  EXPECT_NE(f->network_config.find("version: 2"), std::string::npos);
  EXPECT_EQ(f->user_data, "");
  EXPECT_EQ(f->gpucloud_cloud_config, "");
}

// The key pair named at boot reaches the guest as NoCloud's public-keys; its comment is free text
// and stays one quoted YAML string.
TEST(ConfigDrive, PublicKeyFromKeyData) {
  auto i = instance("");
  i.system_metadata["key_data"] = "ssh-ed25519 AAAAC3Nz a \"quoted\" \\ comment";
  auto f = make_config_drive_files(i, store::Image{}, {});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->meta_data,
            "instance-id: 6f0e2c3a-1b7d-4c1e-9a55-0123456789ab\nlocal-hostname: my-gpu-box-1\n"
            "public-keys:\n  - \"ssh-ed25519 AAAAC3Nz a \\\"quoted\\\" \\\\ comment\"\n");
  i.system_metadata["key_data"] = "";  // a rebuild that removed the key
  f = make_config_drive_files(i, store::Image{}, {});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->meta_data.find("public-keys"), std::string::npos);
}

// 2.90's hostname wins over the one made from the name.
TEST(ConfigDrive, HostnameFromSystemMetadata) {
  auto i = instance("");
  i.system_metadata["hostname"] = "trainer-7";
  auto f = make_config_drive_files(i, store::Image{}, {});
  ASSERT_TRUE(f.ok());
  EXPECT_NE(f->meta_data.find("\nlocal-hostname: trainer-7\n"), std::string::npos);
}

TEST(ConfigDrive, UserDataUnchangedWithoutConfigureX) {
  std::string ud = "#!/bin/sh\necho hi\n";
  auto f = make_config_drive_files(instance(ud), store::Image{}, one_gpu());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->user_data, ud);
  store::Image img = x_image();
  img.properties["configure_x"] = "false";
  f = make_config_drive_files(instance(ud), img, one_gpu());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->user_data, ud);
}

TEST(ConfigDrive, BadUserDataIsRefused) {
  store::Instance i = instance("");
  i.user_data = "not base64!";
  auto f = make_config_drive_files(i, store::Image{}, {});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(f.error().message.find("user_data"), std::string::npos);
}

TEST(ConfigDrive, ConfigureXWithoutUserDataIsOneCloudConfig) {
  auto f = make_config_drive_files(instance(""), x_image(), one_gpu());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->user_data, f->gpucloud_cloud_config);
  EXPECT_EQ(f->user_data.rfind("#cloud-config\n", 0), 0u);
  EXPECT_NE(f->user_data.find("path: /etc/X11/xorg.conf"), std::string::npos);
  EXPECT_NE(f->user_data.find("      BusID \"PCI:1:0:0\""), std::string::npos) << f->user_data;
  if (!have("cloud-init")) GTEST_SKIP() << "cloud-init not installed: schema not checked";
  TempDir d;
  EXPECT_EQ(schema_errors(d.path(), f->user_data), "");
}

// cloud-init's own user-data processor (Debian's, with /usr/bin/python3): the content types and
// payloads it would hand to its handlers, one "type<TAB>first line" per part.
std::string cloud_init_parts(const std::string& dir, const std::string& user_data) {
  std::string script = write(dir + "/parts.py",
                             "import sys\n"
                             "from cloudinit.user_data import UserDataProcessor\n"
                             "msg = UserDataProcessor({}).process(open(sys.argv[1], 'rb').read())\n"
                             "for p in msg.walk():\n"
                             "    if p.is_multipart(): continue\n"
                             "    body = p.get_payload(decode=True).decode()\n"
                             "    print(p.get_content_type() + '\\t' + body.splitlines()[0])\n");
  auto r = run_command({"/usr/bin/python3", script, write(dir + "/ud", user_data)});
  if (!r.ok()) return r.error().message;
  return r->output;
}

TEST(ConfigDrive, ConfigureXKeepsTheUsersCloudConfigAsItsOwnPart) {
  std::string ud = "#cloud-config\nwrite_files:\n  - path: /etc/motd\n    content: hello\n";
  auto f = make_config_drive_files(instance(ud), x_image(), one_gpu());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->user_data.rfind("Content-Type: multipart/mixed;", 0), 0u);
  EXPECT_NE(f->user_data.find("Merge-Type: list(append)+dict(no_replace,recurse_list)+str()"),
            std::string::npos);
  if (!have("cloud-init")) GTEST_SKIP() << "cloud-init not installed";
  TempDir d;
  EXPECT_EQ(schema_errors(d.path(), f->gpucloud_cloud_config), "");
  EXPECT_EQ(schema_errors(d.path(), ud), "");
  EXPECT_EQ(cloud_init_parts(d.path(), f->user_data),
            "text/cloud-config\t#cloud-config\ntext/cloud-config\t#cloud-config\n");
}

TEST(ConfigDrive, ConfigureXKeepsAScriptAndANestedMultipart) {
  if (!have("cloud-init")) GTEST_SKIP() << "cloud-init not installed";
  TempDir d;
  auto f = make_config_drive_files(instance("#!/bin/sh\necho hi\n"), x_image(), one_gpu());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(cloud_init_parts(d.path(), f->user_data),
            "text/x-shellscript\t#!/bin/sh\ntext/cloud-config\t#cloud-config\n");
  // The user's own multipart message becomes a nested part.
  std::string mime =
      "Content-Type: multipart/mixed; boundary=\"XX\"\nMIME-Version: 1.0\n\n"
      "--XX\nContent-Type: text/x-shellscript\n\n#!/bin/bash\ntrue\n--XX--\n";
  f = make_config_drive_files(instance(mime), x_image(), one_gpu());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(cloud_init_parts(d.path(), f->user_data),
            "text/x-shellscript\t#!/bin/bash\ntext/cloud-config\t#cloud-config\n");
}

TEST(ConfigDrive, IsoReadsBack) {
  if (!have("genisoimage") || !have("isoinfo")) GTEST_SKIP() << "genisoimage/isoinfo not installed";
  TempDir d;
  auto f = make_config_drive_files(instance("#cloud-config\n{}\n"), x_image(), one_gpu());
  ASSERT_TRUE(f.ok());
  std::string iso = d.path() + "/disk.config";
  auto s = write_config_drive_iso(*f, d.path() + "/work", iso);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto info = run_command({"isoinfo", "-d", "-i", iso});
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->output.find("Volume id: cidata"), std::string::npos) << info->output;
  for (auto [name, want] :
       {std::pair{"/meta-data", f->meta_data}, std::pair{"/user-data", f->user_data},
        std::pair{"/network-config", f->network_config}}) {
    auto r = run_command({"isoinfo", "-i", iso, "-J", "-x", name});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->output, want) << name;
  }
}

}  // namespace
}  // namespace gpucloud::agent
