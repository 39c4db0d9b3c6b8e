#include "login_file.hpp"

#include <utility>

namespace twostep::pam {

Status LoginFile::assume_owner() {
  auto identity = FileAccessIdentity::assume(owner_.uid, owner_.gid, owner_.name, owner_groups_);
  if (!identity) return identity.error();
  identity_.emplace(std::move(*identity));
  return {};
}

LoginFile LoginFile::open(const std::vector<std::string>& candidates, const FileOwner& owner,
                          bool strict_modes) {
  LoginFile file(owner);
  if (auto switched = file.assume_owner(); !switched) {
    file.identity_error_ = switched.error();
    return file;
  }
  FileExpectations expectations;
  expectations.owner = owner.uid;
  expectations.strict_modes = strict_modes;
  file.search_ = find_secret_file(candidates, expectations);
  if (const SecretDocument* document = file.snapshot()) file.format_ = document->format;
  return file;
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
