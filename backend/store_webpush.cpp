// Default Web Push storage for a Store that has none yet: every call refuses,
// so the daemon runs with push notifications off (the open app still sees
// requests through its event stream).
#include "store.hpp"

namespace twostep::relay {
namespace {
StoreError unsupported() {
  return StoreError{StoreErrc::backend, "this store does not keep Web Push data"};
}
}  // namespace

StoreResult<std::string> Store::put_setting_if_absent(std::string_view, std::string_view) {
  return unsupported();
}
StoreResult<std::string> Store::get_setting(std::string_view) { return unsupported(); }
StoreResult<Done> Store::put_push_subscription(const PushSubscription&) { return unsupported(); }
StoreResult<std::vector<PushSubscription>> Store::push_subscriptions(std::string_view) {
  return unsupported();
}
StoreResult<std::int64_t> Store::delete_push_subscription(std::string_view) { return unsupported(); }
StoreResult<std::int64_t> Store::delete_push_subscriptions(std::string_view) {
  return unsupported();
}

}  // namespace twostep::relay
