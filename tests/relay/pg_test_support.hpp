// Helpers for the store tests on PostgreSQL (tests/relay/with_postgres.py
// runs them against a private cluster).
#pragma once

#include <string>

namespace twostep::relay::test {

// Runs SQL (no parameters) on the database named by `url`; on failure
// returns false and puts PostgreSQL's message in `error`.
bool pg_exec(const std::string& url, const std::string& sql, std::string* error = nullptr);

// The integer a one-row, one-column query returns (SELECT count(*) ...);
// -1 on failure.
long pg_count(const std::string& url, const std::string& query);

// The same URL with its database name replaced: postgresql://u@/OLD?x ->
// postgresql://u@/NEW?x.
std::string with_database(const std::string& url, const std::string& database);

// Creates an empty database `name` (letters, digits, _) through the
// maintenance URL and returns the URL that names it; "" on failure.
std::string create_database(const std::string& admin_url, const std::string& name);

}  // namespace twostep::relay::test
