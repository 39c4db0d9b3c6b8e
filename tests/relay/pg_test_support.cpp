#include "pg_test_support.hpp"

#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace twostep::relay::test {
namespace {
struct ConnCloser {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct ResultClearer {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
}  // namespace

bool pg_exec(const std::string& url, const std::string& sql, std::string* error) {
  std::unique_ptr<PGconn, ConnCloser> conn(PQconnectdb(url.c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    if (error) *error = conn ? PQerrorMessage(conn.get()) : "out of memory";
    return false;
  }
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
  std::unique_ptr<PGresult, ResultClearer> res(PQexec(conn.get(), sql.c_str()));
  const ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    if (error) *error = PQerrorMessage(conn.get());
    return false;
  }
  return true;
}

long pg_count(const std::string& url, const std::string& query) {
  std::unique_ptr<PGconn, ConnCloser> conn(PQconnectdb(url.c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) return -1;
  std::unique_ptr<PGresult, ResultClearer> res(PQexec(conn.get(), query.c_str()));
  if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK || PQntuples(res.get()) != 1) return -1;
  return std::atol(PQgetvalue(res.get(), 0, 0));
}

std::string with_database(const std::string& url, const std::string& database) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  const auto slash = url.find('/', scheme + 3);
  if (slash == std::string::npos) return url + "/" + database;
  const auto query = url.find('?', slash);
  return url.substr(0, slash + 1) + database +
         (query == std::string::npos ? std::string() : url.substr(query));
}

std::string create_database(const std::string& admin_url, const std::string& name) {
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    if (!ok) return {};
  }
  std::string error;
  if (!pg_exec(admin_url, "DROP DATABASE IF EXISTS " + name, &error) ||
      !pg_exec(admin_url, "CREATE DATABASE " + name, &error)) {
    std::fprintf(stderr, "create database %s: %s\n", name.c_str(), error.c_str());
    return {};
  }
  return with_database(admin_url, name);
}

}  // namespace twostep::relay::test
