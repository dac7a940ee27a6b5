// Image data: PUT /v2/images/{id}/file streams the body to <data_dir>/images/<id> chunk by chunk
// (never whole in memory), computing size, MD5 `checksum` and SHA-512 `os_hash_value` on the way;
// GET streams it back. Status goes queued -> saving -> active; a failed or aborted upload removes
// its partial file and puts the image back to queued, as glance does.
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

Result<Reply> upload(ApiContext& ctx, Call& call, const httplib::ContentReader& content) {
  const std::string& id = call.param("image_id");
  auto img = find_writable(ctx, call.who(), id);
  if (!img.ok()) return img.error();
  UploadClaim claim(id);
  if (!claim.claimed() || img->status != store::ImageStatus::kQueued) {
    return Error::conflict(
        std::string("Image status transition from ") +
        (claim.claimed() ? store::to_string(img->status) : "saving") +
        " to saving is not allowed: data can be uploaded to a queued image only.");
  }
  if (img->disk_format.empty() || img->container_format.empty()) {
    return bad_request(
        "Properties disk_format, container_format must be set prior to saving data.");
  }
  img->status = store::ImageStatus::kSaving;
  if (auto s = ctx.store().update_image(*img); !s.ok()) return s.error();

  std::error_code ec;
  fs::create_directories(image_dir(ctx), ec);
  const fs::path final_path = image_file(ctx, id);
  const fs::path partial = image_dir(ctx) / (id + ".partial-" + new_hex_id());
  FILE* f = std::fopen(partial.c_str(), "wb");
  if (!f) {
    restore_queued(ctx, id);
    return Error::internal("cannot create " + partial.string() + ": " + std::strerror(errno));
  }
  Md5 md5;
  crypto_hash_sha512_state sha;
  crypto_hash_sha512_init(&sha);
  int64_t size = 0;
  bool write_failed = false;
  const bool received = content([&](const char* data, size_t len) {
    if (std::fwrite(data, 1, len, f) != len) {
      write_failed = true;
      return false;
    }
    md5.update(data, len);
    crypto_hash_sha512_update(&sha, reinterpret_cast<const unsigned char*>(data), len);
    size += static_cast<int64_t>(len);
    return true;
  });
  // Durable before it is announced active: flush, fsync, close.
  const bool flushed = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!received || write_failed || !flushed || !closed) {
    fs::remove(partial, ec);
    restore_queued(ctx, id);
    if (!received && !write_failed) {
      return bad_request("The upload of image " + id +
                         " ended before all its data arrived; the image stays queued.");
    }
    return Error::unavailable("cannot write the data of image " + id + " (disk full?)");
  }
  fs::rename(partial, final_path, ec);
  if (ec) {
    fs::remove(partial, ec);
    restore_queued(ctx, id);
    return Error::internal("cannot rename image data into place: " + ec.message());
  }
  unsigned char digest[crypto_hash_sha512_BYTES];
  crypto_hash_sha512_final(&sha, digest);

  // Re-read: the image may have been updated or deleted while its data streamed in.
  auto cur = ctx.store().get_image(id);
  if (!cur.ok()) {
    fs::remove(final_path, ec);
    if (cur.error().code == ErrorCode::kNotFound) {
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
    restore_queued(ctx, id);
    return s.error();
  }
  return Reply::no_content();
}

Result<Reply> download(ApiContext& ctx, Call& call) {
  auto img = find_visible(ctx, call.who(), call.param("image_id"));
  if (!img.ok()) return img.error();
  return stream_data(ctx, call, *img);
}

}  // namespace

Result<Reply> stream_data(ApiContext& ctx, Call& call, const store::Image& image) {
  const std::string& id = image.id;
  const store::Image* img = &image;
  if (img->status != store::ImageStatus::kActive) {
    return Reply::no_content();  // glance: an image without data answers 204
  }
  const fs::path path = image_file(ctx, id);
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  std::shared_ptr<FILE> file(ec ? nullptr : std::fopen(path.c_str(), "rb"), [](FILE* f) {
    if (f) std::fclose(f);
  });
  if (!file)
    return Error::internal("the data of active image " + id + " is missing: " + path.string());
  call.res.set_content_provider(
      size, "application/octet-stream",
      [file](size_t offset, size_t length, httplib::DataSink& sink) {
        char buf[64 * 1024];
        if (std::fseek(file.get(), static_cast<long>(offset), SEEK_SET) != 0) return false;
        const size_t n = std::fread(buf, 1, std::min(length, sizeof buf), file.get());
        if (n == 0) return false;
        return sink.write(buf, n);
      });
  Reply r;
  r.status = 200;
  r.streamed = true;
  r.headers.push_back({"Content-MD5", img->checksum});
  return r;
}

std::vector<Route> data_routes(ApiContext& ctx) {
  const std::string file = "/image/v2/images/{image_id}/file";
  Route put{"PUT", file, Service::kImage, "image:write", {}, {}};
  put.upload_handler = [&ctx](Call& call, const httplib::ContentReader& content) {
    return upload(ctx, call, content);
  };
  return {put,
          {"GET",
           file,
           Service::kImage,
           "image:read",
           [&ctx](Call& call) { return download(ctx, call); },
           {}}};
}

}  // namespace gpucloud::api::image
