// What users boot from: flavors (with extra specs and access lists) and images (with properties,
// tags and where their data lives).
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

std::string stamp(TimePoint t) { return format_time(t == TimePoint{} ? now() : t); }

std::map<std::string, std::string> read_map(soci::session& sql, const std::string& query,
                                            const std::string& key) {
  std::map<std::string, std::string> out;
  std::string k, v;
  soci::indicator vi = soci::i_null;
  soci::statement st = (sql.prepare << query, soci::use(key), soci::into(k), soci::into(v, vi));
  st.execute();
  while (st.fetch()) out[k] = vi == soci::i_null ? "" : v;
  return out;
}

struct FlavorRow {
  Flavor f;
  long long mem = 0, root = 0, eph = 0, swap = 0;
  int is_public = 1, disabled = 0;
  std::string desc, created;
  soci::indicator i_desc{}, i_created{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(f.id));
    st.exchange(soci::into(f.name));
    st.exchange(soci::into(f.vcpus));
    st.exchange(soci::into(mem));
    st.exchange(soci::into(root));
    st.exchange(soci::into(eph));
    st.exchange(soci::into(swap));
    st.exchange(soci::into(f.rxtx_factor));
    st.exchange(soci::into(is_public));
    st.exchange(soci::into(disabled));
    st.exchange(soci::into(desc, i_desc));
    st.exchange(soci::into(created, i_created));
  }
  Flavor get() const {
    Flavor out = f;
    out.memory_mb = mem;
    out.root_gb = root;
    out.ephemeral_gb = eph;
    out.swap_mb = swap;
    out.is_public = is_public != 0;
    out.disabled = disabled != 0;
    out.description = i_desc == soci::i_null ? "" : desc;
    if (i_created != soci::i_null) out.created_at = parse_time(created);
    return out;
  }
};

std::vector<Flavor> select_flavors(soci::session& sql, const std::string& id) {
  FlavorRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(
      "SELECT id, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap_mb, rxtx_factor, "
      "is_public, disabled, description, created_at FROM flavors "
      "WHERE (:a = '' OR id = :b) ORDER BY memory_mb, id");
  row.bind(st);
  st.exchange(soci::use(id, "a"));
  st.exchange(soci::use(id, "b"));
  st.define_and_bind();
  st.execute();
  std::vector<Flavor> out;
  while (st.fetch()) out.push_back(row.get());
  for (Flavor& f : out) {
    f.extra_specs = read_map(
        sql, "SELECT spec_key, spec_value FROM flavor_extra_specs WHERE flavor_id = :i", f.id);
  }
  return out;
}

void require_flavor(soci::session& sql, const std::string& id) {
  int n = 0;
  sql << "SELECT COUNT(*) FROM flavors WHERE id = :i", soci::use(id), soci::into(n);
  if (n == 0) throw Abort{Error::not_found("flavor " + id + " does not exist")};
}

void upsert_spec(soci::session& sql, const std::string& id, const std::string& k,
                 const std::string& v) {
  sql << "DELETE FROM flavor_extra_specs WHERE flavor_id = :i AND spec_key = :k", soci::use(id),
      soci::use(k);
  sql << "INSERT INTO flavor_extra_specs (flavor_id, spec_key, spec_value) VALUES (:i, :k, :v)",
      soci::use(id), soci::use(k), soci::use(v);
}

}  // namespace

Status Store::create_flavor(const Flavor& f) {
  return impl_->write(
      [&](soci::session& sql) {
        long long mem = f.memory_mb, root = f.root_gb, eph = f.ephemeral_gb, swap = f.swap_mb;
        int pub = f.is_public ? 1 : 0, dis = f.disabled ? 1 : 0;
        std::string ts = stamp(f.created_at);
        sql << "INSERT INTO flavors (id, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap_mb, "
               "rxtx_factor, is_public, disabled, description, created_at) VALUES "
               "(:i, :n, :v, :m, :r, :e, :s, :x, :p, :d, :ds, :c)",
            soci::use(f.id), soci::use(f.name), soci::use(f.vcpus), soci::use(mem), soci::use(root),
            soci::use(eph), soci::use(swap), soci::use(f.rxtx_factor), soci::use(pub),
            soci::use(dis), soci::use(f.description), soci::use(ts);
        for (const auto& [k, v] : f.extra_specs) upsert_spec(sql, f.id, k, v);
      },
      "creating flavor '" + f.name + "'");
}

Result<Flavor> Store::get_flavor(const std::string& id) {
  return impl_->read<Flavor>(
      [&](soci::session& sql) {
        if (id.empty()) throw Abort{Error::not_found("flavor id is empty")};
        auto rows = select_flavors(sql, id);
        if (rows.empty()) throw Abort{Error::not_found("flavor " + id + " does not exist")};
        return rows.front();
      },
      "reading flavor " + id);
}

Result<std::vector<Flavor>> Store::list_flavors() {
  return impl_->read<std::vector<Flavor>>(
      [&](soci::session& sql) { return select_flavors(sql, ""); }, "listing flavors");
}

Status Store::delete_flavor(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        sql << "DELETE FROM flavor_extra_specs WHERE flavor_id = :i", soci::use(id);
        sql << "DELETE FROM flavor_projects WHERE flavor_id = :i", soci::use(id);
        soci::statement st = (sql.prepare << "DELETE FROM flavors WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "flavor " + id + " does not exist");
      },
      "deleting flavor " + id);
}

Status Store::set_flavor_description(const std::string& id, const std::string& description) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st = (sql.prepare << "UPDATE flavors SET description = :d WHERE id = :i",
                              soci::use(description), soci::use(id));
        st.execute(true);
        // MariaDB counts changed rows: an unchanged description is not a missing flavor.
        if (st.get_affected_rows() == 0) {
          int n = 0;
          sql << "SELECT COUNT(*) FROM flavors WHERE id = :i", soci::use(id), soci::into(n);
          if (n == 0) throw Abort{Error::not_found("flavor " + id + " does not exist")};
        }
      },
      "updating flavor " + id);
}

Status Store::set_flavor_extra_specs(const std::string& id,
                                     const std::map<std::string, std::string>& specs) {
  return impl_->write(
      [&](soci::session& sql) {
        require_flavor(sql, id);
        for (const auto& [k, v] : specs) upsert_spec(sql, id, k, v);
      },
      "setting extra specs of flavor " + id);
}

Status Store::delete_flavor_extra_spec(const std::string& id, const std::string& key) {
  return impl_->write(
      [&](soci::session& sql) {
        require_flavor(sql, id);
        soci::statement st =
            (sql.prepare << "DELETE FROM flavor_extra_specs WHERE flavor_id = :i AND spec_key = :k",
             soci::use(id), soci::use(key));
        st.execute(true);
        require_row(st, "flavor " + id + " has no extra spec " + key);
      },
      "deleting extra spec of flavor " + id);
}

Status Store::add_flavor_access(const std::string& flavor_id, const std::string& project_id) {
  return impl_->write(
      [&](soci::session& sql) {
        require_flavor(sql, flavor_id);
        sql << "INSERT INTO flavor_projects (flavor_id, project_id) VALUES (:f, :p)",
            soci::use(flavor_id), soci::use(project_id);
      },
      "adding access to flavor " + flavor_id);
}

Status Store::remove_flavor_access(const std::string& flavor_id, const std::string& project_id) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM flavor_projects WHERE flavor_id = :f AND project_id = :p",
             soci::use(flavor_id), soci::use(project_id));
        st.execute(true);
        require_row(st, "project " + project_id + " has no access to flavor " + flavor_id);
      },
      "removing access to flavor " + flavor_id);
}

Result<std::vector<std::string>> Store::list_flavor_access(const std::string& flavor_id) {
  return impl_->read<std::vector<std::string>>(
      [&](soci::session& sql) {
        require_flavor(sql, flavor_id);
        std::vector<std::string> out;
        std::string p;
        soci::statement st = (sql.prepare << "SELECT project_id FROM flavor_projects WHERE "
                                             "flavor_id = :f ORDER BY project_id",
                              soci::use(flavor_id), soci::into(p));
        st.execute();
        while (st.fetch()) out.push_back(p);
        return out;
      },
      "listing access to flavor " + flavor_id);
}

// ---- images ----

namespace {

struct ImageRow {
  Image i;
  std::string status, visibility, location, created, updated;
  long long size = 0, vsize = 0, min_disk = 0, min_ram = 0;
  int prot = 0, hidden = 0;
  soci::indicator i_size{}, i_vsize{}, i_location{}, i_created{}, i_updated{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(i.id));
    st.exchange(soci::into(i.name));
    st.exchange(soci::into(i.owner));
    st.exchange(soci::into(status));
    st.exchange(soci::into(visibility));
    st.exchange(soci::into(i.disk_format));
    st.exchange(soci::into(i.container_format));
    st.exchange(soci::into(size, i_size));
    st.exchange(soci::into(vsize, i_vsize));
    st.exchange(soci::into(i.checksum));
    st.exchange(soci::into(i.os_hash_algo));
    st.exchange(soci::into(i.os_hash_value));
    st.exchange(soci::into(location, i_location));
    st.exchange(soci::into(min_disk));
    st.exchange(soci::into(min_ram));
    st.exchange(soci::into(prot));
    st.exchange(soci::into(hidden));
    st.exchange(soci::into(created, i_created));
    st.exchange(soci::into(updated, i_updated));
  }
  Image get() const {
    Image out = i;
    if (auto s = parse_image_status(status)) out.status = *s;
    if (auto v = parse_image_visibility(visibility)) out.visibility = *v;
    if (i_size != soci::i_null) out.size = size;
    if (i_vsize != soci::i_null) out.virtual_size = vsize;
    out.location = i_location == soci::i_null ? "" : location;
    out.min_disk = min_disk;
    out.min_ram = min_ram;
    out.is_protected = prot != 0;
    out.os_hidden = hidden != 0;
    if (i_created != soci::i_null) out.created_at = parse_time(created);
    if (i_updated != soci::i_null) out.updated_at = parse_time(updated);
    return out;
  }
};

std::vector<Image> select_images(soci::session& sql, const std::string& id) {
  ImageRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(
      "SELECT id, name, owner, status, visibility, disk_format, container_format, size, "
      "virtual_size, checksum, os_hash_algo, os_hash_value, location, min_disk, min_ram, "
      "protected, os_hidden, created_at, updated_at FROM images WHERE (:a = '' OR id = :b) "
      "ORDER BY created_at, id");
  row.bind(st);
  st.exchange(soci::use(id, "a"));
  st.exchange(soci::use(id, "b"));
  st.define_and_bind();
  st.execute();
  std::vector<Image> out;
  while (st.fetch()) out.push_back(row.get());
  for (Image& img : out) {
    img.properties =
        read_map(sql, "SELECT name, value FROM image_properties WHERE image_id = :i", img.id);
    std::string tag;
    soci::statement t =
        (sql.prepare << "SELECT tag FROM image_tags WHERE image_id = :i ORDER BY tag",
         soci::use(img.id), soci::into(tag));
    t.execute();
    while (t.fetch()) img.tags.push_back(tag);
  }
  return out;
}

}  // namespace

void write_image(soci::session& sql, const Image& i, bool insert) {
  std::string status = to_string(i.status), vis = to_string(i.visibility);
  long long size = i.size.value_or(0), vsize = i.virtual_size.value_or(0);
  soci::indicator si = i.size ? soci::i_ok : soci::i_null;
  soci::indicator vi = i.virtual_size ? soci::i_ok : soci::i_null;
  long long min_disk = i.min_disk, min_ram = i.min_ram;
  int prot = i.is_protected ? 1 : 0, hidden = i.os_hidden ? 1 : 0;
  std::string created = stamp(i.created_at), updated = format_time(now());
  if (insert) {
    sql << "INSERT INTO images (name, owner, status, visibility, disk_format, container_format, "
           "size, virtual_size, checksum, os_hash_algo, os_hash_value, location, min_disk, "
           "min_ram, protected, os_hidden, updated_at, created_at, id) VALUES (:n, :o, :s, :v, "
           ":df, :cf, :sz, :vs, :ck, :ha, :hv, :l, :md, :mr, :p, :h, :u, :c, :i)",
        soci::use(i.name), soci::use(i.owner), soci::use(status), soci::use(vis),
        soci::use(i.disk_format), soci::use(i.container_format), soci::use(size, si),
        soci::use(vsize, vi), soci::use(i.checksum), soci::use(i.os_hash_algo),
        soci::use(i.os_hash_value), soci::use(i.location), soci::use(min_disk), soci::use(min_ram),
        soci::use(prot), soci::use(hidden), soci::use(updated), soci::use(created), soci::use(i.id);
  } else {
    // Metadata only: the status and the data are update_image_data's.
    soci::statement st =
        (sql.prepare << "UPDATE images SET name = :n, owner = :o, visibility = :v, disk_format = "
                        ":df, container_format = :cf, min_disk = :md, min_ram = :mr, protected = "
                        ":p, os_hidden = :h, updated_at = :u WHERE id = :i",
         soci::use(i.name), soci::use(i.owner), soci::use(vis), soci::use(i.disk_format),
         soci::use(i.container_format), soci::use(min_disk), soci::use(min_ram), soci::use(prot),
         soci::use(hidden), soci::use(updated), soci::use(i.id));
    st.execute(true);
    if (st.get_affected_rows() == 0) {  // MySQL counts changed rows only: check it exists
      int n = 0;
      sql << "SELECT COUNT(*) FROM images WHERE id = :i", soci::use(i.id), soci::into(n);
      if (n == 0) throw Abort{Error::not_found("image " + i.id + " does not exist")};
    }
  }
  sql << "DELETE FROM image_properties WHERE image_id = :i", soci::use(i.id);
  sql << "DELETE FROM image_tags WHERE image_id = :i", soci::use(i.id);
  for (const auto& [k, v] : i.properties) {
    sql << "INSERT INTO image_properties (image_id, name, value) VALUES (:i, :k, :v)",
        soci::use(i.id), soci::use(k), soci::use(v);
  }
  for (const auto& t : i.tags) {
    sql << "INSERT INTO image_tags (image_id, tag) VALUES (:i, :t)", soci::use(i.id), soci::use(t);
  }
}

void erase_image(soci::session& sql, const std::string& id) {
  sql << "DELETE FROM image_properties WHERE image_id = :i", soci::use(id);
  sql << "DELETE FROM image_tags WHERE image_id = :i", soci::use(id);
  sql << "DELETE FROM image_members WHERE image_id = :i", soci::use(id);
  soci::statement st = (sql.prepare << "DELETE FROM images WHERE id = :i", soci::use(id));
  st.execute(true);
  require_row(st, "image " + id + " does not exist");
}

Status Store::create_image(const Image& i) {
  return impl_->write([&](soci::session& sql) { write_image(sql, i, true); },
                      "creating image " + i.id);
}

Result<Image> Store::get_image(const std::string& id) {
  return impl_->read<Image>(
      [&](soci::session& sql) {
        if (id.empty()) throw Abort{Error::not_found("image id is empty")};
        auto rows = select_images(sql, id);
        if (rows.empty()) throw Abort{Error::not_found("image " + id + " does not exist")};
        return rows.front();
      },
      "reading image " + id);
}

Result<std::vector<Image>> Store::list_images() {
  return impl_->read<std::vector<Image>>([&](soci::session& sql) { return select_images(sql, ""); },
                                         "listing images");
}

Status Store::update_image(const Image& i) {
  return impl_->write([&](soci::session& sql) { write_image(sql, i, false); },
                      "updating image " + i.id);
}

Status Store::update_image_data(const Image& i, ImageStatus from) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string status = to_string(i.status), want = to_string(from);
        const std::string updated = format_time(now());
        long long size = i.size.value_or(0), vsize = i.virtual_size.value_or(0);
        soci::indicator si = i.size ? soci::i_ok : soci::i_null;
        soci::indicator vi = i.virtual_size ? soci::i_ok : soci::i_null;
        soci::statement st =
            (sql.prepare << "UPDATE images SET status = :s, size = :sz, virtual_size = :vs, "
                            "checksum = :ck, os_hash_algo = :ha, os_hash_value = :hv, location = "
                            ":l, updated_at = :u WHERE id = :i AND status = :w",
             soci::use(status), soci::use(size, si), soci::use(vsize, vi), soci::use(i.checksum),
             soci::use(i.os_hash_algo), soci::use(i.os_hash_value), soci::use(i.location),
             soci::use(updated), soci::use(i.id), soci::use(want));
        st.execute(true);
        if (st.get_affected_rows() > 0) return;
        // No row changed: gone, no longer `from`, or (MySQL counts changed rows) the same values.
        std::string now_status;
        sql << "SELECT status FROM images WHERE id = :i", soci::use(i.id), soci::into(now_status);
        if (!sql.got_data()) throw Abort{Error::not_found("image " + i.id + " does not exist")};
        if (now_status != want) {
          throw Abort{
              Error::conflict("image " + i.id + " is " + now_status + ", no longer " + want)};
        }
      },
      "writing the data of image " + i.id);
}

Status Store::delete_image(const std::string& id) {
  return impl_->write([&](soci::session& sql) { erase_image(sql, id); }, "deleting image " + id);
}

Status Store::set_image_status(const std::string& id, ImageStatus from, ImageStatus to) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string want = to_string(from), next = to_string(to), at = format_time(now());
        soci::statement st =
            (sql.prepare << "UPDATE images SET status = :n, updated_at = :u WHERE id = :i AND "
                            "status = :w",
             soci::use(next), soci::use(at), soci::use(id), soci::use(want));
        st.execute(true);
        if (st.get_affected_rows() > 0) return;
        int n = 0;
        sql << "SELECT COUNT(*) FROM images WHERE id = :i", soci::use(id), soci::into(n);
        if (n == 0) throw Abort{Error::not_found("image " + id + " does not exist")};
        throw Abort{Error::conflict("image " + id + " is no longer " + want)};
      },
      "setting the status of image " + id);
}

}  // namespace gpucloud::store
