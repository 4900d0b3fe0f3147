# The fuzz targets; each name is also its folder under corpus/, dict/ and regressions/.
# Shared by tests/fuzz/CMakeLists.txt (builds them) and external.cmake (registers tests).
set(SLUICE_FUZZ_TARGETS client_hello proxy_header first_packet backend_messages frame_tracker
    sasl batch cidr_allowlist config_yaml http_ingest http_admin pool_watch scram_login
    auth_file)
