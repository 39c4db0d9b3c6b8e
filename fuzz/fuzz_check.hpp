// Invariant checks for the fuzz targets: a violated invariant is a crash.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                              \
  do {                                                                     \
    if (!(condition)) {                                                    \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                   #condition);                                            \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

#include <string_view>

#include "twostep/secret_file.hpp"

namespace twostep::fuzz {

// The parser's verdict on `text`: errors must be malformed/too_large and name
// a line. A document that parsed must serialize back to exactly `text`.
template <typename Parse>
Result<SecretDocument> parse_and_check(Parse parse, std::string_view text) {
  auto parsed = parse(text);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code == ErrorCode::malformed ||
               parsed.error().code == ErrorCode::too_large);
    FUZZ_CHECK(parsed.error().message.starts_with("line "));
    return parsed;
  }
  auto same = serialize_secret_document(*parsed);
  FUZZ_CHECK(same.ok());
  FUZZ_CHECK(same->view() == text);
  return parsed;
}

// The document serializes, the output re-parses, and re-serializes identically.
template <typename Parse>
void check_rewrite_stable(Parse parse, const SecretDocument& document) {
  auto written = serialize_secret_document(document);
  FUZZ_CHECK(written.ok());
  auto reparsed = parse(written->view());
  FUZZ_CHECK(reparsed.ok());
  auto again = serialize_secret_document(*reparsed);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->view() == written->view());
}

}  // namespace twostep::fuzz
