// Image data: upload streamed to disk with checksums, download, the status machine, and what an
// interrupted or refused upload leaves behind (nothing).
#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "api/image_impl.h"
#include "image_fixture.h"
#include "raw_http.h"

namespace gpucloud::api::testing {
namespace {

// Deterministic pseudo-random bytes (libsodium's seeded generator).
std::string test_data(size_t n) {
  std::string s(n, '\0');
  unsigned char seed[randombytes_SEEDBYTES] = {42};
  randombytes_buf_deterministic(s.data(), n, seed);
  return s;
}

std::string sha512_hex(const std::string& data) {
  unsigned char d[crypto_hash_sha512_BYTES];
  crypto_hash_sha512(d, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return image::to_hex(d, sizeof d);
}

// MD5 computed by coreutils' md5sum, independent of the server's own MD5.
std::string md5sum(const std::filesystem::path& dir, const std::string& data) {
  const auto file = dir / "md5-input";
  std::ofstream(file, std::ios::binary) << data;
  std::string cmd = "md5sum '" + file.string() + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[64] = {};
  const size_t n = std::fread(buf, 1, 32, p);
  ::pclose(p);
  std::filesystem::remove(file);
  return std::string(buf, n);
}

TEST_F(ImageTest, UploadDownloadRoundTripWithChecksums) {
  const std::string id = create_raw(alice_, "data");
  ASSERT_FALSE(id.empty());
  const std::string data = test_data(3 * 1024 * 1024 + 17);  // several reads, odd tail
  auto r = upload(id, alice_, data);
  ASSERT_EQ(r->status, 204) << r->body;
  json img = show(id, rita_);
  EXPECT_EQ(img["status"], "active");
  EXPECT_EQ(img["size"], data.size());
  EXPECT_EQ(img["checksum"], md5sum(dir_, data));
  EXPECT_EQ(img["os_hash_algo"], "sha512");
  EXPECT_EQ(img["os_hash_value"], sha512_hex(data));
  EXPECT_EQ(image_files(), std::vector<std::string>{id});  // no partial file left

  r = get("/image/v2/images/" + id + "/file", rita_);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Length"), std::to_string(data.size()));
  EXPECT_EQ(r->get_header_value("Content-MD5"), img["checksum"]);
  EXPECT_TRUE(r->body == data);

  // A second upload to an active image is refused and changes nothing.
  const std::string before = snapshot();
  r = upload(id, alice_, "other data");
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(snapshot(), before);
  EXPECT_TRUE(get("/image/v2/images/" + id + "/file", alice_)->body == data);

  // Deleting the image removes its data.
  EXPECT_EQ(del("/image/v2/images/" + id, alice_)->status, 204);
  EXPECT_TRUE(image_files().empty());
}

TEST_F(ImageTest, EmptyImageUploadsAndQueuedImageHasNoData) {
  const std::string id = create_raw(alice_, "empty");
  EXPECT_EQ(get("/image/v2/images/" + id + "/file", alice_)->status, 204);
  ASSERT_EQ(upload(id, alice_, "")->status, 204);
  json img = show(id, alice_);
  EXPECT_EQ(img["size"], 0);
  EXPECT_EQ(img["checksum"], "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(img["os_hash_value"], sha512_hex(""));
}

TEST_F(ImageTest, RefusedUploadsChangeNothing) {
  const std::string no_format = create(alice_, {{"name", "no format"}});
  const std::string theirs = create(bob_, {{"name", "bob's"},
                                           {"disk_format", "raw"},
                                           {"container_format", "bare"},
                                           {"visibility", "private"}});
  const std::string ours = create_raw(alice_, "ours");
  const std::string before = snapshot();
  auto r = upload(no_format, alice_, "data");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("disk_format"), std::string::npos);
  EXPECT_EQ(upload(theirs, alice_, "data")->status, 404);
  EXPECT_EQ(upload(ours, rita_, "data")->status, 403);
  EXPECT_EQ(
      client_
          ->Put(("/image/v2/images/" + ours + "/file").c_str(), "data", "application/octet-stream")
          ->status,
      401);
  EXPECT_EQ(snapshot(), before);
  EXPECT_TRUE(image_files().empty());
}

// Polls the store until the image reaches `status` (the server works on its own threads).
bool wait_for_status(store::Store& store, const std::string& id, store::ImageStatus status) {
  for (int i = 0; i < 1000; ++i) {
    auto img = store.get_image(id);
    if (img.ok() && img->status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(ImageTest, InterruptedUploadLeavesImageQueuedWithoutFile) {
  const std::string id = create_raw(alice_, "interrupted");
  ASSERT_FALSE(id.empty());
  const std::string before = snapshot();
  const int fd = connect_raw();
  ASSERT_GE(fd, 0);
  const std::string head = "PUT /image/v2/images/" + id +
                           "/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: " + alice_ +
                           "\r\nContent-Type: application/octet-stream\r\n"
                           "Content-Length: 10000000\r\n\r\n";
  const std::string part = test_data(64 * 1024);
  ASSERT_EQ(::send(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  ASSERT_EQ(::send(fd, part.data(), part.size(), 0), static_cast<ssize_t>(part.size()));
  // The server has taken the upload (saving) before the client goes away mid-body.
  ASSERT_TRUE(wait_for_status(*store_, id, store::ImageStatus::kSaving));
  ::close(fd);
  ASSERT_TRUE(wait_for_status(*store_, id, store::ImageStatus::kQueued));
  EXPECT_EQ(snapshot(), before);
  EXPECT_TRUE(image_files().empty());
  // And the image still takes a complete upload afterwards.
  EXPECT_EQ(upload(id, alice_, "complete")->status, 204);
  EXPECT_EQ(show(id, alice_)["status"], "active");
}

// Files in <data_dir>/spool, where uploads are streamed while they arrive.
std::vector<std::string> spool_files(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir / "spool", ec)) {
    out.push_back(e.path().filename().string());
  }
  return out;
}

// A graceful stop (SIGTERM) lets an upload whose body is still arriving finish: the server stops
// accepting, waits for the request in flight, answers it with Connection: close.
TEST_F(ImageTest, GracefulStopFinishesAnUploadInFlight) {
  const std::string id = create_raw(alice_, "in flight");
  ASSERT_FALSE(id.empty());
  const std::string data = test_data(128 * 1024);
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "PUT /image/v2/images/" + id +
                               "/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: " + alice_ +
                               "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                               std::to_string(data.size()) + "\r\n\r\n"));
  ASSERT_TRUE(send_all(fd, data.substr(0, data.size() / 2)));
  // The head was taken (the image is saving): the request is in flight.
  ASSERT_TRUE(wait_for_status(*store_, id, store::ImageStatus::kSaving));
  std::thread stopper([this] { server_->stop(); });
  // The stop has begun once new connections are refused.
  bool refused = false;
  for (int i = 0; i < 3000 && !refused; ++i) {
    const int probe = connect_to(server_->port());
    refused = probe < 0;
    if (probe >= 0) ::close(probe);
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(refused) << "the server still accepts connections while stopping";
  ASSERT_TRUE(send_all(fd, data.substr(data.size() / 2)));
  auto r = read_response(fd, std::chrono::seconds(30));
  stopper.join();
  ::close(fd);
  ASSERT_TRUE(r) << "the upload in flight was dropped instead of finished";
  EXPECT_EQ(r->status, 204) << r->body;
  EXPECT_EQ(r->header("connection"), "close");
  auto img = store_->get_image(id);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img->status, store::ImageStatus::kActive);
  EXPECT_EQ(img->size.value_or(-1), static_cast<int64_t>(data.size()));
}

// --max-image-size: an upload over it is refused with 413 whether its length is announced or it
// comes chunked; the image stays (or goes back to) queued and no data or spool file is left.
class ImageSizeLimitTest : public ImageTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    ImageTest::customize(deps, options);
    options.max_image_size = kLimit;
  }
  static constexpr uint64_t kLimit = 64 * 1024;
};

TEST_F(ImageSizeLimitTest, AnnouncedUploadOverTheMaximumIs413AndImageStaysQueued) {
  const std::string id = create_raw(alice_, "too big");
  ASSERT_FALSE(id.empty());
  const std::string before = snapshot();
  // Only the head is sent: the answer comes from Content-Length alone, before any body.
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "PUT /image/v2/images/" + id +
                               "/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: " + alice_ +
                               "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                               std::to_string(kLimit + 1) + "\r\n\r\n"));
  auto r = read_response(fd, std::chrono::seconds(30));
  ::close(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], 413) << r->body;
  EXPECT_EQ(snapshot(), before);
  EXPECT_TRUE(image_files().empty());
  EXPECT_TRUE(spool_files(dir_).empty());
  // At the maximum it is taken.
  EXPECT_EQ(upload(id, alice_, test_data(kLimit))->status, 204);
  EXPECT_EQ(show(id, alice_)["size"], kLimit);
}

TEST_F(ImageSizeLimitTest, ChunkedUploadOverTheMaximumIs413AndLeavesNothing) {
  const std::string id = create_raw(alice_, "too big, chunked");
  ASSERT_FALSE(id.empty());
  const std::string before = snapshot();
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "PUT /image/v2/images/" + id +
                               "/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: " + alice_ +
                               "\r\nContent-Type: application/octet-stream\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"));
  std::thread sender([fd] {
    const std::string chunk = "4000\r\n" + std::string(0x4000, 'x') + "\r\n";  // 16 KiB
    for (int i = 0; i < 64; ++i) {                                             // 1 MiB
      if (!send_all(fd, chunk)) return;
    }
    send_all(fd, "0\r\n\r\n");
  });
  auto r = read_response(fd, std::chrono::seconds(30));
  ::shutdown(fd, SHUT_RDWR);
  sender.join();
  ::close(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], 413) << r->body;
  // The dropped upload puts the image back to queued (on a worker, after the answer).
  ASSERT_TRUE(wait_for_status(*store_, id, store::ImageStatus::kQueued));
  EXPECT_EQ(snapshot(), before);
  EXPECT_TRUE(image_files().empty());
  EXPECT_TRUE(spool_files(dir_).empty());
}

}  // namespace
}  // namespace gpucloud::api::testing
