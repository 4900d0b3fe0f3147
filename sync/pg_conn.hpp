// RAII over libpq: one connection, results that free themselves, errors that carry
// the SQLSTATE and the statement that failed (never the connection string).
#pragma once

#include <libpq-fe.h>

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::sync {

class pg_error : public std::runtime_error {
 public:
  pg_error(std::string message, std::string sqlstate, std::string sql)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)), sql_(std::move(sql)) {}
  const std::string& sqlstate() const { return sqlstate_; }
  const std::string& sql() const { return sql_; }
  // Connection loss, admin shutdown, serialization failure, deadlock: worth retrying.
  bool transient() const;

 private:
  std::string sqlstate_;
  std::string sql_;
};

struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};

class pg_result {
 public:
  explicit pg_result(PGresult* r) : r_(r) {}
  int rows() const { return PQntuples(r_.get()); }
  bool null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string get(int row, int col) const { return PQgetvalue(r_.get(), row, col); }
  int64_t get_int(int row, int col) const { return std::stoll(get(row, col)); }
  // Rows the command inserted, updated or deleted (its command tag's count).
  int64_t affected() const {
    const char* n = PQcmdTuples(r_.get());
    return *n ? std::stoll(n) : 0;
  }
  PGresult* native() const { return r_.get(); }

 private:
  std::unique_ptr<PGresult, result_deleter> r_;
};

class pg_conn {
 public:
  // Keyword/value connection parameters (libpq's PQconnectdbParams). Throws pg_error.
  explicit pg_conn(const std::map<std::string, std::string>& params);
  ~pg_conn();
  pg_conn(const pg_conn&) = delete;
  pg_conn& operator=(const pg_conn&) = delete;

  bool ok() const;
  PGconn* native() const { return c_; }
  // PostgreSQL's version as a number (150004 for 15.4).
  int server_version() const { return PQserverVersion(c_); }

  pg_result exec(const std::string& sql);
  pg_result exec(const std::string& sql, const std::vector<std::string>& params);
  // Sends `sql`, runs `meanwhile` while the server executes it, then waits for its result.
  // Lets the caller use another connection while this one works.
  pg_result exec_overlapped(const std::string& sql, const std::function<void()>& meanwhile);
  // During exec_overlapped: true while the server is still working on the statement.
  bool busy();
  // COPY ... FROM STDIN with `data` already in COPY text format.
  void copy_in(const std::string& copy_sql, const std::string& data);
  // The same, with the data produced in parts: `next` fills its (cleared) buffer with the
  // next part and returns false after the last one. The server parses one part while
  // the next is produced.
  void copy_in(const std::string& copy_sql, const std::function<bool(std::string&)>& next);

  std::string quote_ident(const std::string& s) const;
  std::string quote_literal(const std::string& s) const;

 private:
  [[noreturn]] void fail(PGresult* r, const std::string& sql);
  PGconn* c_ = nullptr;
};

// Identifier quoting without a connection (always double quotes; UTF-8 safe).
std::string quote_ident(const std::string& s);
std::string quote_literal(const std::string& s);

}  // namespace sluice::sync
