// glance's image members: the projects a `shared` image is offered to, each with its own answer
// (pending, accepted, rejected). One row per (image, project); the image's deletion removes them
// (erase_image in catalogue.cc).
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

const char* const kColumns = "image_id, member_id, status, created_at, updated_at";

struct MemberRow {
  ImageMember m;
  std::string status, created, updated;
  void bind(soci::statement& st) {
    st.exchange(soci::into(m.image_id));
    st.exchange(soci::into(m.member_id));
    st.exchange(soci::into(status));
    st.exchange(soci::into(created));
    st.exchange(soci::into(updated));
  }
  ImageMember get() const {
    ImageMember out = m;
    if (auto s = parse_image_member_status(status)) out.status = *s;
    out.created_at = parse_time(created);
    out.updated_at = parse_time(updated);
    return out;
  }
};

// The rows that match `where`, its placeholders bound to `values` in order; oldest first.
std::vector<ImageMember> select_members(soci::session& sql, const std::string& where,
                                        const std::vector<std::string>& values) {
  MemberRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(std::string("SELECT ") + kColumns + " FROM image_members WHERE " + where +
             " ORDER BY created_at, member_id");
  row.bind(st);
  for (const auto& v : values) st.exchange(soci::use(v));
  st.define_and_bind();
  st.execute();
  std::vector<ImageMember> out;
  while (st.fetch()) out.push_back(row.get());
  return out;
}

ImageMember one_member(soci::session& sql, const std::string& image_id,
                       const std::string& member_id) {
  auto rows = select_members(sql, "image_id = :i AND member_id = :m", {image_id, member_id});
  if (rows.empty()) {
    throw Abort{Error::not_found(member_id + " is not a member of image " + image_id)};
  }
  return rows.front();
}

}  // namespace

Status Store::add_image_member(const ImageMember& m, size_t max_members) {
  return impl_->write(
      [&](soci::session& sql) {
        // The image row's lock orders concurrent adds, so that the count below stays true
        // until this transaction commits (SQLite's write lock does the same).
        std::string id;
        soci::indicator ind = soci::i_null;
        sql << "SELECT id FROM images WHERE id = :i" + impl_->dialect.for_update,
            soci::use(m.image_id), soci::into(id, ind);
        if (!sql.got_data())
          throw Abort{Error::not_found("image " + m.image_id + " does not exist")};
        int present = 0, count = 0;
        sql << "SELECT COUNT(*) FROM image_members WHERE image_id = :i AND member_id = :m",
            soci::use(m.image_id), soci::use(m.member_id), soci::into(present);
        if (present > 0) {
          throw Abort{
              Error::conflict("Member " + m.member_id + " is duplicated for image " + m.image_id)};
        }
        sql << "SELECT COUNT(*) FROM image_members WHERE image_id = :i", soci::use(m.image_id),
            soci::into(count);
        if (static_cast<size_t>(count) >= max_members) {
          throw Abort{Error{ErrorCode::kPayloadTooLarge,
                            "The limit has been exceeded on the number of allowed image members "
                            "for this image. Attempted: " +
                                std::to_string(count + 1) +
                                ", Maximum: " + std::to_string(max_members)}};
        }
        const std::string status = to_string(m.status);
        const std::string created = format_time(m.created_at == TimePoint{} ? now() : m.created_at);
        const std::string updated = format_time(m.updated_at == TimePoint{} ? now() : m.updated_at);
        sql << "INSERT INTO image_members (image_id, member_id, status, created_at, updated_at) "
               "VALUES (:i, :m, :s, :c, :u)",
            soci::use(m.image_id), soci::use(m.member_id), soci::use(status), soci::use(created),
            soci::use(updated);
      },
      "adding member " + m.member_id + " to image " + m.image_id);
}

Result<ImageMember> Store::get_image_member(const std::string& image_id,
                                            const std::string& member_id) {
  return impl_->read<ImageMember>(
      [&](soci::session& sql) { return one_member(sql, image_id, member_id); },
      "reading member " + member_id + " of image " + image_id);
}

Result<std::vector<ImageMember>> Store::list_image_members(const std::string& image_id) {
  return impl_->read<std::vector<ImageMember>>(
      [&](soci::session& sql) { return select_members(sql, "image_id = :i", {image_id}); },
      "listing the members of image " + image_id);
}

Result<std::vector<ImageMember>> Store::list_memberships(const std::string& member_id) {
  return impl_->read<std::vector<ImageMember>>(
      [&](soci::session& sql) { return select_members(sql, "member_id = :m", {member_id}); },
      "listing the images shared with " + member_id);
}

Result<ImageMember> Store::set_image_member_status(const std::string& image_id,
                                                   const std::string& member_id,
                                                   ImageMemberStatus status) {
  return impl_->write_result<ImageMember>(
      [&](soci::session& sql) {
        one_member(sql, image_id, member_id);  // kNotFound first: MariaDB counts changed rows
        const std::string s = to_string(status), at = format_time(now());
        sql << "UPDATE image_members SET status = :s, updated_at = :u "
               "WHERE image_id = :i AND member_id = :m",
            soci::use(s), soci::use(at), soci::use(image_id), soci::use(member_id);
        return one_member(sql, image_id, member_id);
      },
      "updating member " + member_id + " of image " + image_id);
}

Status Store::delete_image_member(const std::string& image_id, const std::string& member_id) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM image_members WHERE image_id = :i AND member_id = :m",
             soci::use(image_id), soci::use(member_id));
        st.execute(true);
        require_row(st, member_id + " is not a member of image " + image_id);
      },
      "removing member " + member_id + " from image " + image_id);
}

}  // namespace gpucloud::store
