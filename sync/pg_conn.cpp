#include "sync/pg_conn.hpp"

namespace sluice::sync {

bool pg_error::transient() const {
  // Class 08: connection exceptions; 57P01-3: shutdown/crash; 40001/40P01: retry the tx.
  if (sqlstate_.empty())
    return true;  // no server answer at all: the link is gone
  return sqlstate_.rfind("08", 0) == 0 || sqlstate_ == "57P01" || sqlstate_ == "57P02" ||
         sqlstate_ == "57P03" || sqlstate_ == "40001" || sqlstate_ == "40P01" ||
         sqlstate_ == "53300";
}

pg_conn::pg_conn(const std::map<std::string, std::string>& params) {
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  c_ = PQconnectdbParams(keys.data(), values.data(), 0);
  if (!c_ || PQstatus(c_) != CONNECTION_OK) {
    std::string msg = c_ ? PQerrorMessage(c_) : "out of memory";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
      msg.pop_back();
    // libpq reports missing CONNECT privilege as a FATAL with 42501 in the text only.
    std::string state = msg.find("permission denied for database") != std::string::npos   ? "42501"
                        : msg.find("password authentication failed") != std::string::npos ? "28P01"
                        : msg.find("does not exist") != std::string::npos                 ? "3D000"
                                                                                          : "08006";
    if (c_)
      PQfinish(c_);
    c_ = nullptr;
    throw pg_error(msg, state, "");
  }
  // NOTICEs ("already exists, skipping") are expected from idempotent DDL: keep stderr
  // for the gateway's own log lines.
  PQsetNoticeProcessor(
      c_, [](void*, const char*) {}, nullptr);
}

pg_conn::~pg_conn() {
  if (c_)
    PQfinish(c_);
}

bool pg_conn::ok() const {
  return c_ && PQstatus(c_) == CONNECTION_OK;
}

void pg_conn::fail(PGresult* r, const std::string& sql) {
  std::string msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c_);
  const char* st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string state = st ? st : "";
  if (r)
    PQclear(r);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
    msg.pop_back();
  if (state.empty() && PQstatus(c_) != CONNECTION_OK)
    state = "08006";
  throw pg_error(msg, state, sql);
}

pg_result pg_conn::exec(const std::string& sql) {
  PGresult* r = PQexec(c_, sql.c_str());
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    fail(r, sql);
  return pg_result(r);
}

pg_result pg_conn::exec(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> p;
  for (const auto& s : params)
    p.push_back(s.c_str());
  PGresult* r = PQexecParams(c_, sql.c_str(), static_cast<int>(p.size()), nullptr, p.data(),
                             nullptr, nullptr, 0);
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    fail(r, sql);
  return pg_result(r);
}

pg_result pg_conn::exec_overlapped(const std::string& sql, const std::function<void()>& meanwhile) {
  if (PQsendQuery(c_, sql.c_str()) != 1)
    fail(nullptr, sql);
  auto drain = [this] {
    PGresult* last = nullptr;
    while (PGresult* r = PQgetResult(c_)) {
      if (last)
        PQclear(last);
      last = r;
    }
    return last;
  };
  try {
    meanwhile();
  } catch (...) {
    if (PGresult* r = drain())
      PQclear(r);
    throw;
  }
  // A multi-statement string would give several results; ours is one statement.
  PGresult* r = drain();
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    fail(r, sql);
  return pg_result(r);
}

bool pg_conn::busy() {
  // A broken connection is not busy: its result (an error) is ready to be collected.
  return PQconsumeInput(c_) == 1 && PQisBusy(c_) == 1;
}

void pg_conn::copy_in(const std::string& copy_sql, const std::string& data) {
  size_t off = 0;
  copy_in(copy_sql, [&](std::string& buf) {
    // Large chunks: libpq buffers and flushes; one call per ~1 MiB keeps memory flat.
    constexpr size_t kChunk = 1 << 20;
    size_t n = std::min(kChunk, data.size() - off);
    buf.assign(data, off, n);
    off += n;
    return off < data.size();
  });
}

void pg_conn::copy_in(const std::string& copy_sql, const std::function<bool(std::string&)>& next) {
  PGresult* r = PQexec(c_, copy_sql.c_str());
  if (!r || PQresultStatus(r) != PGRES_COPY_IN)
    fail(r, copy_sql);
  PQclear(r);
  std::string buf;
  bool more = true;
  try {
    while (more) {
      buf.clear();
      more = next(buf);
      if (!buf.empty() && PQputCopyData(c_, buf.data(), static_cast<int>(buf.size())) != 1)
        fail(nullptr, copy_sql);
    }
  } catch (...) {
    // Leave the connection usable (the caller rolls back): end the COPY as failed.
    PQputCopyEnd(c_, "aborted by the writer");
    while ((r = PQgetResult(c_)) != nullptr)
      PQclear(r);
    throw;
  }
  if (PQputCopyEnd(c_, nullptr) != 1)
    fail(nullptr, copy_sql);
  r = PQgetResult(c_);
  if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
    fail(r, copy_sql);
  PQclear(r);
  while ((r = PQgetResult(c_)) != nullptr)
    PQclear(r);
}

std::string pg_conn::quote_ident(const std::string& s) const {
  return sync::quote_ident(s);
}
std::string pg_conn::quote_literal(const std::string& s) const {
  return sync::quote_literal(s);
}

std::string quote_ident(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"')
      out += '"';
    out += ch;
  }
  return out + "\"";
}

std::string quote_literal(const std::string& s) {
  // E'' form so backslashes are unambiguous whatever standard_conforming_strings says.
  std::string out = "E'";
  for (char ch : s) {
    if (ch == '\'' || ch == '\\')
      out += ch;
    out += ch;
  }
  return out + "'";
}

}  // namespace sluice::sync
