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
        FILES_MATCHING PATTERN "*.md" PATTERN "*.yml" PATTERN "*.json")
# The shipped configuration is a conffile (packaging/debian/conffiles): dpkg keeps an
# operator's edits across upgrades and asks before replacing them.
install(FILES ${PROJECT_SOURCE_DIR}/config/examples/sluice.example.yaml
        DESTINATION /etc/sluice RENAME sluice.yaml)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/debian/copyright
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/sluice)

# Debian wants the changelog (changelog.gz: a native package, no Debian revision) and the manual page gzip-compressed, reproducibly (-n).
find_program(GZIP_PROGRAM gzip REQUIRED)
configure_file(${PROJECT_SOURCE_DIR}/packaging/debian/changelog.in
               ${PROJECT_BINARY_DIR}/packaging/changelog @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/packaging/sluice.1 ${PROJECT_BINARY_DIR}/packaging/sluice.1
               @ONLY)
foreach(f changelog sluice.1)
  execute_process(COMMAND ${GZIP_PROGRAM} -9nf ${f}
                  WORKING_DIRECTORY ${PROJECT_BINARY_DIR}/packaging)
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/packaging/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/sluice)
install(FILES ${PROJECT_BINARY_DIR}/packaging/sluice.1.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VENDOR "sluice")
set(CPACK_PACKAGE_CONTACT "sluice maintainers <sluice@example.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "PostgreSQL gateway appliance: TLS, allowlists, SSH tunnels, sync")
# The extended description (every line after the summary).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "sluice is a regional gateway for PostgreSQL traffic in one binary. It accepts
PostgreSQL clients, terminates or passes through TLS, enforces IP allowlists
written in YAML, routes by listener, TLS server name, database and user, and
forwards the wire protocol to databases reached directly or through SSH tunnels
to customers' bastion hosts.
.
It also embeds a sync writer: batches of API records arrive over an
authenticated HTTP API and are written exactly once into a schema sluice
manages in the customer's database. Live reload, systemd notify and watchdog,
health, metrics and a status page, and a doctor that explains connection
failures are included.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/sluice/sluice")
# Depends is computed from the binary's shared libraries (dpkg-shlibdeps), so a library
# the binary links (libgcc-s1, say) can never be missing from the list.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: postinst falls back to it where systemd-sysusers is missing.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql-client")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/prerm;${PROJECT_SOURCE_DIR}/packaging/debian/postrm;${PROJECT_SOURCE_DIR}/packaging/debian/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
include(CPack)
