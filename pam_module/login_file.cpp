#include "login_file.hpp"

#include <utility>

namespace twostep::pam {

Status LoginFile::assume_owner() {
  identity_.reset();  // back to the module's own identity first
  auto identity = FileAccessIdentity::assume(owner_.uid, owner_.gid, owner_.name, owner_groups_);
  if (!identity) return identity.error();
  identity_.emplace(std::move(*identity));
  return {};
}

namespace {

// An error that a supplementary group of the owner might have avoided: a
// directory or the file could not be opened (EACCES is reported as io).
bool maybe_denied(const SecretFileSearch& search) {
  const auto is_io = [](const std::optional<Error>& error) {
    return error && error->code == ErrorCode::io;
  };
  return is_io(search.unsafe_directory) || is_io(search.file_error);
}

}  // namespace

LoginFile LoginFile::open(const std::vector<std::string>& candidates, const FileOwner& owner,
                          bool strict_modes) {
  LoginFile file(owner);
  // The owner's primary group alone first: it drops the caller's groups,
  // which is what matters, and needs no NSS lookup (getgrouplist loads every
  // `group:` source of nsswitch.conf, ~400 k instructions in a fresh
  // process). Only a path that refused access is walked again with all of
  // the owner's groups, as initgroups() would set them.
  file.owner_groups_ = std::vector<gid_t>{owner.gid};
  file.search(candidates, strict_modes);
  if (!file.identity_error_ && maybe_denied(file.search_)) {
    file.owner_groups_.reset();  // looked up by the next switch
    file.search(candidates, strict_modes);
  }
  return file;
}

void LoginFile::search(const std::vector<std::string>& candidates, bool strict_modes) {
  if (auto switched = assume_owner(); !switched) {
    identity_error_ = switched.error();
    return;
  }
  FileExpectations expectations;
  expectations.owner = owner_.uid;
  expectations.strict_modes = strict_modes;
  search_ = find_secret_file(candidates, expectations);
  if (const SecretDocument* document = snapshot()) format_ = document->format;
}

Status LoginFile::check_and_record(
    const std::function<UpdateDecision(SecretDocument&)>& check) {
  if (identity_error_) return *identity_error_;
  if (search_.file_error) return *search_.file_error;
  if (!search_.snapshot) return make_error(ErrorCode::not_found, path() + " does not exist");
  return search_.snapshot->lock_and_update(check);
}

Status LoginFile::with_module_identity(const std::function<void()>& work) {
  identity_.reset();  // back to the module's identity
  work();
  return assume_owner();
}

}  // namespace twostep::pam
