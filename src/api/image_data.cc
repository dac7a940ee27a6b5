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
  if (auto s = ctx.store().update_image_data(*cur, store::ImageStatus::kSaving); !s.ok()) {
    spdlog::error("image {}: cannot put it back to queued after a failed upload: {}", id,
                  s.error().message);
  }
}

// An agent may write only the snapshot image of a server that its host is shelving now: agents
// hold no project role, and one agent's credentials must not reach other images. Anything else
// is 409: the agent is allowed the route, the image is not in a state it may write.
Result<store::Image> snapshot_writable(ApiContext& ctx, const std::string& host,
                                       const std::string& id) {
  auto img = ctx.store().get_image(id);
  if (!img.ok()) {
    return img.error().code == ErrorCode::kNotFound
               ? Result<store::Image>(Error::not_found("No image found with ID " + id))
               : img;
  }
  auto prop = [&](const char* k) {
    auto it = img->properties.find(k);
    return it == img->properties.end() ? std::string() : it->second;
  };
  const std::string uuid = prop("instance_uuid");
  const Error refused = Error::conflict("image " + id + " is not a snapshot that host " + host +
                                        " is writing for a shelve");
  if (prop("image_type") != "snapshot" || uuid.empty()) return refused;
  auto inst = ctx.store().get_instance(uuid);
  if (!inst.ok()) return inst.error().code == ErrorCode::kNotFound ? refused : inst.error();
  if (inst->host != host || inst->task_state != std::optional<std::string>("shelving")) {
    return refused;
  }
  return img;
}

// PUT .../file, first step (the head is in, no body yet): the image goes queued -> saving.
class ImageUpload : public Upload {
 public:
  ImageUpload(ApiContext& ctx, std::string id) : ctx_(ctx), id_(id), claim_(std::move(id)) {}
  // Unfinished (the body never arrived whole, or a step failed): back to queued, as glance does.
  ~ImageUpload() override {
    if (began_ && !finished_) restore_queued(ctx_, id_);
  }

  // `agent_host` set: an agent uploads a shelve's snapshot (snapshot_writable decides).
  Status begin(const Caller& caller, const std::string& agent_host = "") {
    auto img = agent_host.empty() ? find_writable(ctx_, caller, id_)
                                  : snapshot_writable(ctx_, agent_host, id_);
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
    // A compare-and-set: of two uploads begun at once on two replicas, one wins.
    img->status = store::ImageStatus::kSaving;
    if (auto s = ctx_.store().update_image_data(*img, store::ImageStatus::kQueued); !s.ok()) {
      if (s.error().code != ErrorCode::kConflict) return s.error();
      return Error::conflict(
          "Image status transition to saving is not allowed: data can be uploaded to a queued "
          "image only (" +
          s.error().message + ").");
    }
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

// The data of image `id`, whole in the file `data`: hashed, made durable, moved to its place and
// announced active. `data` is gone afterwards (moved, or removed on failure).
Status commit_data(ApiContext& ctx, const std::string& id, const fs::path& data) {
  std::error_code ec;
  const fs::path final_path = image_file(ctx, id);
  Md5 md5;
  crypto_hash_sha512_state sha;
  crypto_hash_sha512_init(&sha);
  int64_t size = 0;
  bool read = false;
  const int fd = ::open(data.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    read = true;
    char buf[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        read = false;
        break;
      }
      md5.update(buf, static_cast<size_t>(n));
      crypto_hash_sha512_update(&sha, reinterpret_cast<const unsigned char*>(buf),
                                static_cast<unsigned long long>(n));
      size += n;
    }
    // Durable before it is announced active.
    read = read && ::fsync(fd) == 0;
    ::close(fd);
  }
  if (!read) {
    fs::remove(data, ec);
    return Error::unavailable("cannot write the data of image " + id + " (disk full?)");
  }
  fs::rename(data, final_path, ec);
  if (ec) {
    fs::remove(data, ec);
    return Error::unavailable("cannot write the data of image " + id + ": " + ec.message());
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
  if (auto s = ctx.store().update_image_data(*cur, store::ImageStatus::kSaving); !s.ok()) {
    fs::remove(final_path, ec);
    return s.error();
  }
  return {};
}

Result<Reply> ImageUpload::finish(Call&, SpooledBody& content) {
  // The server spooled the body to disk as it arrived; it moves beside its final place (same
  // file system) and is committed from there.
  std::error_code ec;
  fs::create_directories(image_dir(ctx_), ec);
  const fs::path part = image_dir(ctx_) / (id_ + ".part");
  if (!content.move_to(part.string())) {
    return Error::unavailable("cannot write the data of image " + id_ + " (disk full?)");
  }
  Status s = commit_data(ctx_, id_, part);
  if (!s.ok()) {
    // A deleted image has nothing to put back to queued.
    if (s.error().code == ErrorCode::kConflict) finished_ = true;
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
  // glance: a deactivated image's data stays readable by admins only (they inspect it).
  if (img->status == store::ImageStatus::kDeactivated && !call.who().is_admin()) {
    return forbidden("The requested image has been deactivated. Image data download is forbidden.");
  }
  return stream_data(ctx, call, *img);
}

}  // namespace

Result<Reply> stream_data(ApiContext& ctx, Call& /*call*/, const store::Image& image) {
  const std::string& id = image.id;
  const store::Image* img = &image;
  if (img->status != store::ImageStatus::kActive &&
      img->status != store::ImageStatus::kDeactivated) {
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

Result<std::unique_ptr<Upload>> begin_snapshot_upload(ApiContext& ctx, Call& call) {
  auto upload = std::make_unique<ImageUpload>(ctx, call.param("image_id"));
  if (auto s = upload->begin(call.who(), call.param("host")); !s.ok()) return s.error();
  return std::unique_ptr<Upload>(std::move(upload));
}

Status import_file(ApiContext& ctx, const std::string& id, const std::string& path) {
  UploadClaim claim(id);
  if (!claim.claimed()) return Error::conflict("image " + id + " has an upload in flight");
  auto img = ctx.store().get_image(id);
  if (!img.ok()) return img.error();
  if (img->status != store::ImageStatus::kQueued) {
    return Error::conflict("image " + id + " is " + store::to_string(img->status) +
                           ", not queued: its data cannot be written");
  }
  img->status = store::ImageStatus::kSaving;  // a compare-and-set, as for an upload
  if (auto s = ctx.store().update_image_data(*img, store::ImageStatus::kQueued); !s.ok()) return s;
  std::error_code ec;
  fs::create_directories(image_dir(ctx), ec);
  const fs::path part = image_dir(ctx) / (id + ".part");
  fs::rename(path, part, ec);
  if (ec) {  // another file system: copy
    ec.clear();
    fs::copy_file(path, part, fs::copy_options::overwrite_existing, ec);
    std::error_code ignored;
    fs::remove(path, ignored);
    if (ec) {
      restore_queued(ctx, id);
      return Error::unavailable("cannot write the data of image " + id + ": " + ec.message());
    }
  }
  auto done = commit_data(ctx, id, part);
  if (!done.ok()) restore_queued(ctx, id);
  return done;
}

Status delete_with_data(ApiContext& ctx, const std::string& id) {
  if (auto s = ctx.store().delete_image(id); !s.ok() && s.error().code != ErrorCode::kNotFound) {
    return s;
  }
  // The record is gone first: a reader can no longer reach data that is about to disappear.
  std::error_code ec;
  fs::remove(image_file(ctx, id), ec);
  return {};
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
