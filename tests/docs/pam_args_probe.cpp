// Asks pam_twostep's own argument parser which of the given names it knows,
// for tests/docs/test_man_pages.py (the man page must document exactly the
// arguments the parser accepts).
//   pam_args_probe NAME...
// prints, for each NAME the parser knows, "NAME flag" (NAME alone is an
// argument) and/or "NAME value" (NAME=VALUE is one). A name is known when
// parsing it ends in anything but the parser's "unknown argument" or
// wrong-form errors: a bad value or a missing companion argument still means
// the key is known.
#include <array>
#include <cstdio>
#include <string>
#include <string_view>

#include "module_config.hpp"

namespace {

bool parser_knows(const std::string& argument) {
  const std::array<const char*, 1> args{argument.c_str()};
  const auto config = twostep::pam::parse_module_arguments(args);
  if (config) {
    return true;
  }
  // "unknown argument", or the key in the other form ("X takes no value",
  // "X needs =VALUE"): not an argument in this form.
  const std::string_view message = config.error().message;
  return !message.starts_with("unknown argument") && !message.ends_with(" takes no value") &&
         !message.ends_with(" needs =VALUE");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    if (parser_knows(name)) {
      std::printf("%s flag\n", name.c_str());
    }
    // "1" parses for numeric keys and is a bad value for the others: either
    // way a known key answers with something other than "unknown argument".
    if (parser_knows(name + "=1")) {
      std::printf("%s value\n", name.c_str());
    }
  }
  return 0;
}
