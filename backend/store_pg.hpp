// The PostgreSQL store (store_pg.cpp): several twostepd instances on one
// database, with change wake-ups across instances through LISTEN/NOTIFY.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store.hpp"

namespace twostep::relay {

// True for a postgresql:// or postgres:// URL (what selects this store).
bool is_postgresql_url(std::string_view location) noexcept;

// The location with any password replaced by ***, for messages and logs
// (user:PASSWORD@ and password=PASSWORD in a URL; other locations unchanged).
std::string printable_location(std::string_view location);

// Connects, creates or migrates the schema (schema_too_new if the database
// was written by a newer twostepd), and starts listening for the changes of
// other instances before it returns. Error messages never repeat the URL
// (it may carry a password).
StoreResult<std::unique_ptr<Store>> open_postgresql_store(const std::string& url);

}  // namespace twostep::relay
