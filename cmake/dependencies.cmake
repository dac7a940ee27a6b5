# Every dependency is a Debian package installed by scripts/setup.sh (see scripts/packages.txt).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(GTest REQUIRED)

# Debian's cpp-httplib is a compiled library: its pkg-config flags (OpenSSL/zlib/brotli) must be
# used, or the header and the library disagree and the program crashes at the first request.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(LIBVIRT REQUIRED IMPORTED_TARGET libvirt)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
find_package(OpenSSL REQUIRED)

# SOCI ships no CMake/pkg-config files on Debian 12. We link the backends directly so that they
# need no run-time search path. Its headers are built with Boost support on.
find_package(Boost REQUIRED)
find_path(SOCI_INCLUDE_DIR soci/soci.h REQUIRED)
find_library(SOCI_CORE soci_core REQUIRED)
find_library(SOCI_SQLITE3 soci_sqlite3 REQUIRED)
find_library(SOCI_MYSQL soci_mysql REQUIRED)
# soci-mysql.h includes <mysql.h>, which Debian's libmariadb-dev puts under /usr/include/mariadb.
find_path(MYSQL_INCLUDE_DIR mysql.h PATH_SUFFIXES mariadb mysql REQUIRED)
add_library(gpucloud_soci_headers INTERFACE)
target_include_directories(gpucloud_soci_headers SYSTEM INTERFACE ${SOCI_INCLUDE_DIR} ${MYSQL_INCLUDE_DIR})
# The store also calls the client library itself (multi-statement batches: mysql_next_result).
find_library(MARIADB_CLIENT NAMES mariadb mysqlclient REQUIRED)
# And SQLite's own online backup API (`gpucloud db backup`).
find_library(SQLITE3_LIBRARY sqlite3 REQUIRED)
set(SOCI_LIBRARIES ${SOCI_CORE} ${SOCI_SQLITE3} ${SOCI_MYSQL} ${MARIADB_CLIENT} ${SQLITE3_LIBRARY}
    Boost::boost gpucloud_soci_headers)
