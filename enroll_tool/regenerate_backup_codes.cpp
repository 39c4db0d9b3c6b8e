// --regenerate-backup-codes: replace all backup codes; the new ones are
// shown once, after they are safely on disk.
#include "backup_codes.hpp"
#include "exit_codes.hpp"
#include "modes.hpp"
#include "token_display.hpp"
#include "twostep/secret_store.hpp"

namespace twostep::enroll {

int run_regenerate_backup_codes(const Session& session) {
  const Options& options = session.options;
  const Console& console = session.console;
  std::vector<SecretBytes> codes;
  std::optional<Error> generation_error;
  auto updated = lock_and_update_secret_file(
      session.location.path, expectations_for(session.location), [&](SecretDocument& document) {
        document.enrollment.backup_codes.clear();
        auto fresh = make_backup_codes(document.enrollment, options.backup_codes, document.format);
        if (!fresh) {
          generation_error = fresh.error();
          return UpdateDecision::keep;
        }
        codes = std::move(*fresh);
        return UpdateDecision::write;
      });
  if (generation_error) return report_file_error(console, *generation_error);
  if (!updated) return report_file_error(console, updated.error());
  console.info("Replaced the backup codes in " + session.location.path +
               "; the old ones no longer work.");
  print_backup_codes(console, codes);
  return kExitOk;
}

}  // namespace twostep::enroll
