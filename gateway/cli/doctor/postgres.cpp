#include "gateway/cli/doctor/postgres.hpp"

#include "gateway/session/auth_phase.hpp"

namespace sluice::doctor {

std::pair<std::string, std::string> explain_login_error(const std::string& m,
                                                        const std::string& where,
                                                        const std::string& sslmode,
                                                        const setting_keys& keys) {
  auto has = [&](const char* s) { return m.find(s) != std::string::npos; };
  // A server that insists on TLS: a hostnossl ... reject line, or only hostssl lines.
  if ((has("pg_hba.conf rejects") || has("no pg_hba.conf entry")) && has("no encryption")) {
    // A route: the hint the data plane gives a client that meets this error.
    const std::string route_prefix = "route ";
    const std::string change =
        where.rfind(route_prefix, 0) == 0
            ? gateway::hint_upstream_refuses_plaintext(where.substr(route_prefix.size()))
            : "in " + where + " set " + keys.sslmode + ": require (or verify-full with " + keys.ca +
                  ")";
    return {
        "invalid_authorization_specification: the server accepts this user only over "
        "TLS (hostssl lines, or a hostnossl reject line) and sluice connected without TLS "
        "(sslmode " +
            sslmode + ")",
        change};
  }
  if (has("requires a valid client certificate") || has("certificate authentication failed"))
    return {"the server requires a client certificate (a hostssl ... clientcert or cert line)",
            "in " + where + " set " + keys.cert +
                " to the client certificate and key the database owner issued"};
  if (has("no pg_hba.conf entry") && (has("SSL encryption") || has("GSS encryption")))
    return {
        "invalid_authorization_specification: pg_hba.conf has no line for this user, "
        "database and address over TLS (only hostnossl/host lines that do not match)",
        "in " + where + " set " + keys.sslmode +
            ": disable if the server must be reached in the "
            "clear, or add a 'hostssl DB USER <gateway public address>/32 scram-sha-256' line "
            "to pg_hba.conf and reload PostgreSQL"};
  if (has("no pg_hba.conf entry"))
    return {
        "invalid_authorization_specification: pg_hba.conf has no line that lets this user "
        "in to this database from the gateway's address",
        "add 'hostssl DB USER <gateway public address>/32 scram-sha-256' to pg_hba.conf and "
        "reload PostgreSQL (SELECT pg_reload_conf())"};
  if (has("pg_hba.conf rejects"))
    return {
        "invalid_authorization_specification: a 'reject' line in pg_hba.conf matches the "
        "gateway's address",
        "move a host/hostssl line for the gateway's address above the reject line"};
  if (has("password authentication failed") || has("SCRAM authentication"))
    return {"wrong password for this user (invalid_password)",
            "check the password file you passed (no trailing spaces; a newline at the end is "
            "fine) or reset it: ALTER ROLE USER PASSWORD '...'"};
  if (has("no password supplied") || has("fe_sendauth"))
    return {"the server asks for a password and none was given",
            "pass --password-file FILE (for syncs: destination.password_file)"};
  if (has("does not exist") && has("role"))
    return {"the user does not exist on the database server",
            "create it (CREATE ROLE ... LOGIN "
            "PASSWORD '...') or fix --user"};
  if (has("does not exist") && has("database"))
    return {"the database does not exist",
            "fix --database (or the route's rewrite.database), or "
            "CREATE DATABASE"};
  if (has("does not support SSL") || has("server does not support SSL"))
    return {"the server has ssl = off but sslmode " + sslmode + " requires TLS",
            "turn ssl = on in postgresql.conf (with a certificate), or in " + where + " set " +
                keys.sslmode + ": prefer (encryption when offered) or disable"};
  // Before "certificate verify failed": a name mismatch is not a CA problem.
  if (has("does not match host name") || has("hostname mismatch"))
    return {"the server's certificate names another host",
            "in " + where + " use a host name from the certificate in " + keys.host + ", or " +
                keys.sslmode + ": verify-ca"};
  if (has("certificate verify failed"))
    return {
        "the server's certificate was not signed by the configured CA",
        "in " + where + " set " + keys.ca + " to the CA that issued the database's certificate"};
  if (has("too many connections") || has("remaining connection slots"))
    return {"the server is out of connection slots",
            "raise max_connections or close idle "
            "sessions (PgBouncer in front helps)"};
  return {};
}

}  // namespace sluice::doctor
