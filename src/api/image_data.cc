// Image data: PUT /v2/images/{id}/file — the server streams the body to a spool file as it
// arrives (never whole in memory, at most ServerOptions::max_image_size); the handler computes
// size, MD5 `checksum` and SHA-512 `os_hash_value` from it and moves it to
// <data_dir>/images/<id>. GET streams it back from the file. Status goes queued -> saving ->
// active; a failed or aborted upload removes its partial file and puts the image back to queued, as
// glance does.
#include <fcntl.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "api/image_impl.h"
#include "core/md5.h"

namespace gpucloud::api::image {
namespace {

namespace fs = std::filesystem;

// Images with an upload in flight in this process: a second upload is refused (409) even before
// the first one's `saving` status reaches the store.
class UploadClaim {
 public:
  explicit UploadClaim(std::string id) : id_(std::move(id)) {
    std::lock_guard lock(mu());
    claimed_ = ids().insert(id_).second;
  }
  ~UploadClaim() {
    if (!claimed_) return;
    std::lock_guard lock(mu());
    ids().erase(id_);
  }
  bool claimed() const { return claimed_; }

 private:
  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }
  static std::set<std::string>& ids() {
    static std::set<std::string> s;
    return s;
  }
  std::string id_;
  bool claimed_ = false;
};

// Puts the image back to queued after a failed upload (if it still exists).
void restore_queued(ApiContext& ctx, const std::string& id) {
  auto cur = ctx.store().get_image(id);
  if (!cur.ok()) return;
  cur->status = store::ImageStatus::kQueued;
  if (auto s = ctx.store().update_image(*cur); !s.ok()) {
    spdlog::error("image {}: cannot put it back to queued after a failed upload: {}", id,
                  s.error().message);
  }
}

// PUT .../file, first step (the head is in, no body yet): the image goes queued -> saving.
class ImageUpload : public Upload {
 public:
  ImageUpload(ApiContext& ctx, std::string id) : ctx_(ctx), id_(id), claim_(std::move(id)) {}
  // Unfinished (the body never arrived whole, or a step failed): back to queued, as glance does.
  ~ImageUpload() override {
    if (began_ && !finished_) restore_queued(ctx_, id_);
  }

  Status begin(const Caller& caller) {
    auto img = find_writable(ctx_, caller, id_);
    if (!img.ok()) return img.error();
    if (!claim_.claimed() || img->status != store::ImageStatus::kQueued) {
      return Error::conflict(
          std::string("Image status transition from ") +
          (claim_.claimed() ? store::to_string(img->status) : "saving") +
          " to saving is not allowed: data can be uploaded to a queued image only.");
    }
    if (img->disk_format.empty() || img->container_format.empty()) {
      return bad_request(
          "Properties disk_format, container_format must be set prior to saving data.");
    }
    img->status = store::ImageStatus::kSaving;
    if (auto s = ctx_.store().update_image(*img); !s.ok()) return s.error();
    began_ = true;
    return {};
  }

  Result<Reply> finish(Call& call, SpooledBody& content) override;

 private:
  ApiContext& ctx_;
  std::string id_;
  UploadClaim claim_;
  bool began_ = false;
  bool finished_ = false;
};

Result<Reply> ImageUpload::finish(Call&, SpooledBody& content) {
  ApiContext& ctx = ctx_;
  const std::string& id = id_;
  // The server spooled the body to disk as it arrived; hash it, then move the file into place.
  std::error_code ec;
  fs::create_directories(image_dir(ctx), ec);
  const fs::path final_path = image_file(ctx, id);
  Md5 md5;
  crypto_hash_sha512_state sha;
  crypto_hash_sha512_init(&sha);
  int64_t size = 0;
  const bool read = content.read([&](const char* data, size_t len) {
    md5.update(data, len);
    crypto_hash_sha512_update(&sha, reinterpret_cast<const unsigned char*>(data), len);
    size += static_cast<int64_t>(len);
    return true;
  });
  // Durable before it is announced active.
  bool synced = false;
  if (const int fd = ::open(content.path().c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    synced = ::fsync(fd) == 0;
    ::close(fd);
  }
  if (!read || !synced || !content.move_to(final_path.string())) {
    return Error::unavailable("cannot write the data of image " + id + " (disk full?)");
  }
  unsigned char digest[crypto_hash_sha512_BYTES];
  crypto_hash_sha512_final(&sha, digest);

  // Re-read: the image may have been updated or deleted while its data streamed in.
  auto cur = ctx.store().get_image(id);
  if (!cur.ok()) {
    fs::remove(final_path, ec);
    if (cur.error().code == ErrorCode::kNotFound) {
      finished_ = true;  // nothing to put back
      return Error::conflict("Image " + id + " was deleted during its upload.");
    }
    return cur.error();
  }
  cur->status = store::ImageStatus::kActive;
  cur->size = size;
  cur->checksum = md5.hex_digest();
  cur->os_hash_algo = "sha512";
  cur->os_hash_value = to_hex(digest, sizeof digest);
  cur->location = "file://" + final_path.string();
  if (auto s = ctx.store().update_image(*cur); !s.ok()) {
    fs::remove(final_path, ec);
    return s.error();
  }
  finished_ = true;
  return Reply::no_content();
}

Result<std::unique_ptr<Upload>> begin_upload(ApiContext& ctx, Call& call) {
  auto upload = std::make_unique<ImageUpload>(ctx, call.param("image_id"));
  if (auto s = upload->begin(call.who()); !s.ok()) return s.error();
  return std::unique_ptr<Upload>(std::move(upload));
}

Result<Reply> download(ApiContext& ctx, Call& call) {
  auto img = find_visible(ctx, call.who(), call.param("image_id"));
  if (!img.ok()) return img.error();
  return stream_data(ctx, call, *img);
}

}  // namespace

Result<Reply> stream_data(ApiContext& ctx, Call& /*call*/, const store::Image& image) {
  const std::string& id = image.id;
  const store::Image* img = &image;
  if (img->status != store::ImageStatus::kActive) {
    return Reply::no_content();  // glance: an image without data answers 204
  }
  const fs::path path = image_file(ctx, id);
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const int fd = ec ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error::internal("the data of active image " + id + " is missing: " + path.string());
  auto file = std::make_shared<FileBody>();
  file->fd = fd;
  file->size = size;
  Reply r;
  r.status = 200;
  r.file = std::move(file);
  r.content_type = "application/octet-stream";
  r.headers.push_back({"Content-MD5", img->checksum});
  return r;
}

std::vector<Route> data_routes(ApiContext& ctx) {
  const std::string file = "/image/v2/images/{image_id}/file";
  Route put{"PUT", file, Service::kImage, "image:write", {}, {}};
  put.upload_handler = [&ctx](Call& call) { return begin_upload(ctx, call); };
  return {put,
          {"GET",
           file,
           Service::kImage,
           "image:read",
           [&ctx](Call& call) { return download(ctx, call); },
           {}}};
}

}  // namespace gpucloud::api::image
