// `twostepd serve`: the HTTP(S) front end (Boost.Beast, C++20 coroutines)
// around RelayService. The only translation unit that includes Beast.
#pragma once

#include <functional>
#include <string>

#include "config.hpp"
#include "store.hpp"

namespace twostep::relay {

// Serves until SIGTERM or SIGINT, then stops accepting, answers pending
// long-polls 503 shutting_down, finishes requests in progress and returns 0.
// SIGHUP reloads the TLS certificate and key. Returns non-zero if it could
// not start (message already logged).
int run_server(const RelayConfig& config, Store& store,
               const std::function<void(const std::string&)>& log);

}  // namespace twostep::relay
