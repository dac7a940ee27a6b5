// SQLite backups for operators (`gpucloud db backup` / `db restore`). Part of the store's public
// interface, apart from store.h because it works on database files by URL, not through an open
// Store. MariaDB is backed up with mariabackup (docs/packages.md).
#pragma once

#include <string>
#include <string_view>

#include "core/core.h"

namespace gpucloud::store {

// A consistent copy of the SQLite database at `url` in `dest_file`, taken with SQLite's online
// backup API while servers keep writing to it. The copy is one self-contained file (rollback
// journal, not WAL) of mode 0600 (it holds password hashes), written under a temporary name and
// renamed into place, so that `dest_file` is never half a backup. Returns the schema version
// copied. MariaDB URLs are refused, naming mariabackup.
Result<int> backup_sqlite(std::string_view url, const std::string& dest_file);

// Replaces the content of the SQLite database at `url` (created when missing) with the backup's,
// after checking the backup: SQLite's integrity_check, and a gpucloud schema this binary knows.
// Stop the servers that use the database first. Returns the schema version restored.
Result<int> restore_sqlite(const std::string& backup_file, std::string_view url);

}  // namespace gpucloud::store
