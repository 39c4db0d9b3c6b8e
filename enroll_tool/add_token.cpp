// --add-token: a second device (e.g. "spare") in an existing native file.
#include "confirm.hpp"
#include "exit_codes.hpp"
#include "image_files.hpp"
#include "modes.hpp"
#include "token_display.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::enroll {
namespace {

// Empty when the token can be added, else why not.
std::string why_not_addable(const SecretDocument& document, const std::string& name) {
  if (document.format == FileFormat::google_authenticator) {
    return "a google-authenticator file holds only one token; migrate to the native format "
           "to add another";
  }
  if (document.enrollment.tokens.size() >= kMaxTokens) {
    return "already " + std::to_string(kMaxTokens) + " tokens; remove one first";
  }
  for (const Token& token : document.enrollment.tokens) {
    if (token.name == name) return "a token named \"" + name + "\" exists; choose --token NAME";
  }
  return {};
}

}  // namespace

int run_add_token(const Session& session) {
  const Options& options = session.options;
  const Console& console = session.console;
  const FileExpectations expectations = expectations_for(session.location);
  auto document = read_secret_file(session.location.path, expectations);
  if (!document) return report_file_error(console, document.error());
  if (const std::string reason = why_not_addable(*document, options.token_name); !reason.empty()) {
    console.error(reason);
    return kExitRefused;
  }
  auto token = new_token(options);
  if (!token) return report_file_error(console, token.error());
  const AppLabel label = app_label(options, session.target);
  remember_label(*token, label);
  auto uri = token_uri(*token, label);
  if (!uri) {
    console.error(uri.error().message);
    return kExitUsage;
  }
  console.info("Adding token \"" + token->name + "\" for " + session.target.name + ".");
  WrittenFiles images;  // removed again unless the token is added
  if (const int shown = present_new_token(session, *token, *uri, images); shown != kExitOk) {
    return shown;
  }
  if (options.confirm) {
    switch (confirm_token(console, *token, document->enrollment.window)) {
      case ConfirmResult::confirmed: break;
      case ConfirmResult::interrupted: return report_interrupted(console);
      case ConfirmResult::failed:
        console.error("the code was not confirmed; nothing was written");
        return kExitConfirmFailed;
    }
  }

  if (interrupted()) return report_interrupted(console);
  std::string refusal;
  auto updated = lock_and_update_secret_file(
      session.location.path, expectations, [&](SecretDocument& current) {
        refusal = why_not_addable(current, token->name);  // it may have changed meanwhile
        if (!refusal.empty()) return UpdateDecision::keep;
        current.enrollment.tokens.push_back(token->clone());
        return UpdateDecision::write;
      });
  if (!refusal.empty()) {
    console.error(refusal);
    return kExitRefused;
  }
  if (!updated) return report_file_error(console, updated.error());
  images.keep();
  console.info("Added token \"" + token->name + "\" to " + session.location.path + ".");
  return kExitOk;
}

}  // namespace twostep::enroll
