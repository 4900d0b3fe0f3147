# Debian package: `cpack -G DEB` in the build directory builds sluice_<version>_<arch>.deb
# with the binary, the systemd unit, sysusers/tmpfiles snippets, example configs and docs.
include(GNUInstallDirs)
# `cpack` (and `make install`) need only what is installed, not every test target.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

install(FILES ${PROJECT_SOURCE_DIR}/systemd/sluice.service
        DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/sluice.sysusers.conf
        DESTINATION lib/sysusers.d RENAME sluice.conf)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/sluice.tmpfiles.conf
        DESTINATION lib/tmpfiles.d RENAME sluice.conf)
file(GLOB sluice_examples ${PROJECT_SOURCE_DIR}/config/examples/*.yaml)
install(FILES ${sluice_examples} DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/sluice/examples)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/sluice
        FILES_MATCHING PATTERN "*.md")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VENDOR "sluice")
set(CPACK_PACKAGE_CONTACT "sluice maintainers <sluice@example.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "PostgreSQL gateway appliance: TLS, allowlists, SSH tunnels, sync")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/sluice/sluice")
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libssh2-1 (>= 1.10), libpq5 (>= 15), libyaml-cpp0.7, libssl3 (>= 3.0), libsystemd0, libc6, libstdc++6 (>= 12)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql-client")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/prerm;${PROJECT_SOURCE_DIR}/packaging/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
include(CPack)
