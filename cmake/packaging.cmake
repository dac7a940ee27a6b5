# Debian packages (`cpack -G DEB` in the build folder, or `cmake --build build --target package`):
#   gpucloud         the CLI (/usr/bin/gpucloud), /etc/gpucloud/nova.conf, docs
#   gpucloud-server  gpucloud-server.service, the portal's files (/usr/share/gpucloud/web)
#   gpucloud-agent   gpucloud-agent.service, /etc/gpucloud/agent.env
# Dependencies are Debian package names: the CLI's libraries from dpkg-shlibdeps (SOCI's
# backends are linked, not loaded, so they are found too), the rest stated below.
install(TARGETS gpucloud RUNTIME DESTINATION bin COMPONENT cli)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/etc/nova.conf DESTINATION /etc/gpucloud COMPONENT cli)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION share/doc/gpucloud COMPONENT cli)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION share/doc/gpucloud/docs COMPONENT cli)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/seed/ DESTINATION share/doc/gpucloud/examples
        COMPONENT cli)

install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/gpucloud-server.service
        DESTINATION /lib/systemd/system COMPONENT server)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/web/ DESTINATION share/gpucloud/web COMPONENT server
        PATTERN node_modules EXCLUDE PATTERN "package*.json" EXCLUDE)

install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/gpucloud-agent.service
        DESTINATION /lib/systemd/system COMPONENT agent)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/etc/agent.env DESTINATION /etc/gpucloud
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ COMPONENT agent)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gpucloud)
set(CPACK_PACKAGE_VENDOR "gpucloud")
set(CPACK_PACKAGE_CONTACT "gpucloud maintainers <gpucloud@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "control plane for VMs with passed-through GPUs")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL cli server agent)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(gpucloud_deb_version "${PROJECT_VERSION}-1")

set(CPACK_DEBIAN_CLI_PACKAGE_NAME gpucloud)
set(CPACK_DEBIAN_CLI_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_CLI_PACKAGE_RECOMMENDS "pci.ids")
set(CPACK_DEBIAN_CLI_PACKAGE_SUGGESTS "python3-openstackclient, mariadb-client")
set(CPACK_COMPONENT_CLI_DESCRIPTION
    "gpucloud command line: server, agent, config check, pci discover, gpu-check, db tools")
set(CPACK_DEBIAN_CLI_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/packaging/debian/cli/conffiles)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME gpucloud-server)
set(CPACK_DEBIAN_SERVER_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "gpucloud (= ${gpucloud_deb_version}), passwd")
set(CPACK_DEBIAN_SERVER_PACKAGE_SUGGESTS "mariadb-server, galera-4")
set(CPACK_COMPONENT_SERVER_DESCRIPTION
    "gpucloud API server as a systemd service, with the web portal")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/packaging/debian/server/postinst;${CMAKE_SOURCE_DIR}/packaging/debian/server/prerm;${CMAKE_SOURCE_DIR}/packaging/debian/server/postrm")

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME gpucloud-agent)
set(CPACK_DEBIAN_AGENT_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "gpucloud (= ${gpucloud_deb_version}), passwd")
set(CPACK_DEBIAN_AGENT_PACKAGE_RECOMMENDS
    "libvirt-daemon-system, libvirt-daemon-driver-qemu, qemu-system-x86, ovmf, genisoimage")
set(CPACK_COMPONENT_AGENT_DESCRIPTION
    "gpucloud host agent as a systemd service: runs a KVM host's GPU VMs through libvirt")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/packaging/debian/agent/postinst;${CMAKE_SOURCE_DIR}/packaging/debian/agent/prerm;${CMAKE_SOURCE_DIR}/packaging/debian/agent/postrm;${CMAKE_SOURCE_DIR}/packaging/debian/agent/conffiles")
include(CPack)
