// --show: display an existing token again (QR, manual key, URI). Root or
// the file's owner only: reading the file enforces owner and mode.
#include "exit_codes.hpp"
#include "modes.hpp"
#include "token_display.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::enroll {
namespace {

const Token* find_token(const Enrollment& enrollment, const std::string& name, bool by_name) {
  if (!by_name) return enrollment.tokens.empty() ? nullptr : &enrollment.tokens.front();
  for (const Token& token : enrollment.tokens) {
    if (token.name == name) return &token;
  }
  return nullptr;
}

}  // namespace

int run_show(const Session& session) {
  const Options& options = session.options;
  const Console& console = session.console;
  const bool on_screen = may_show_secret(options, console);
  if (!on_screen && !options.print_uri && !options.png && !options.svg) {
    console.error("refusing to print the secret: output is not a terminal; "
                  "use --qr=utf8, --print-uri or --png FILE");
    return kExitUsage;
  }
  auto document = read_secret_file(session.location.path, expectations_for(session.location));
  if (!document) return report_file_error(console, document.error());
  const bool by_name = !options.token_name.empty();
  const Token* token = find_token(document->enrollment, options.token_name, by_name);
  if (token == nullptr) {
    console.error("no token named \"" + options.token_name + "\" in " + session.location.path);
    return kExitNotEnrolled;
  }
  const AppLabel label = app_label_of(options, session.target, *token);
  auto uri = token_uri(*token, label);
  if (!uri) {
    console.error(uri.error().message);
    return kExitUsage;
  }
  WrittenFiles images;
  if (auto written = write_qr_images(console, options, *uri, images); !written) {
    console.error(written.error().message);
    return written.error().code == ErrorCode::invalid_argument ? kExitRefused : kExitIo;
  }
  images.keep();
  if (options.print_uri) {
    std::fwrite(uri->data(), 1, uri->size(), stdout);
    std::fputc('\n', stdout);
  }
  if (on_screen) {
    console.info("Token \"" + token->name + "\" from " + session.location.path + ":");
    if (auto shown = show_token(console, *token, label, *uri, effective_qr_style(options, console),
                                 !options.qr_explicit);
        !shown) {
      console.error(shown.error().message);
      return kExitIo;
    }
  }
  console.flush();
  return kExitOk;
}

}  // namespace twostep::enroll
