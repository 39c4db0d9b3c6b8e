// One function per mode, one file each (wizard.cpp, show.cpp, ...).
#pragma once

#include "image_files.hpp"
#include "options.hpp"
#include "target.hpp"
#include "terminal.hpp"
#include "twostep/result.hpp"

namespace twostep::enroll {

struct Session {
  const Options& options;
  const Console& console;
  TargetUser target;
  SecretLocation location;
};

int run_wizard(const Session& session);
int run_show(const Session& session);
int run_status(const Session& session);
int run_remove(const Session& session);
int run_add_token(const Session& session);
int run_regenerate_backup_codes(const Session& session);
int run_push(const Session& session);           // push.cpp: pair a phone
int run_list_devices(const Session& session);
int run_remove_device(const Session& session);

// Shared by the modes: builds a fresh token from the options.
Result<Token> new_token(const Options& options);

// Shows a new token every way the options ask for (images, URI, key and
// QR on screen, app-support warning). Returns kExitOk to go on, else the
// exit code.
int present_new_token(const Session& session, const Token& token, const SecretBytes& uri,
                      WrittenFiles& images);

// Maps a core error on the secret file to an exit code, after printing it.
int report_file_error(const Console& console, const Error& error);

// Prints the interrupt notice and returns kExitInterrupted.
int report_interrupted(const Console& console);

// Whether the secret may be drawn on the console (a terminal, or asked for).
bool may_show_secret(const Options& options, const Console& console);

}  // namespace twostep::enroll
