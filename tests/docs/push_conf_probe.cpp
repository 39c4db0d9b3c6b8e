// Runs the host's push.conf parser (twostep::push::parse_push_config, the
// one pam_twostep and twostep-enroll use) on a file and prints its verdict,
// for tests/docs/test_man_pages.py's check of twostep-push.conf(5).
//   push_conf_probe FILE
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "twostep/push_login.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: push_conf_probe FILE\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream text;
  text << in.rdbuf();
  const auto settings = twostep::push::parse_push_config(text.str());
  if (!settings) {
    std::printf("%s\n", settings.error().message.c_str());
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
