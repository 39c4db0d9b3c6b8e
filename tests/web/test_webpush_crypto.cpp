// twostepd's Web Push crypto (backend/webpush.hpp) against the example of
// RFC 8291 appendix A: with the RFC's ephemeral key and salt, the body must
// be byte for byte the RFC's. Plus the VAPID JWT's shape and the key checks.
#include <string>

#include "twostep/push_protocol.hpp"
#include "webpush.hpp"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace twostep;
using namespace twostep::relay;

namespace {

std::string d(const char* text) {
  auto bytes = push::b64u_decode(text, 8192);
  if (!bytes) fail_msg("bad b64u in the test: %s", text);
  return std::string(bytes->begin(), bytes->end());
}

void rfc8291_appendix_a(void**) {
  const webpush::SubscriptionKeys ua{
      d("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
      d("BTBZMqHH6r4Tts7J_aSIgg")};
  const std::string as_private = d("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
  const std::string salt = d("DGv6ra1nlYgDCS1FRnbzlw");
  const std::string plaintext = d("V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24");
  auto body = webpush::encrypt_for_test(plaintext, ua, push::as_bytes(as_private), salt);
  if (!body) fail_msg("encrypt: %s", body.error().message.c_str());
  const std::string want = d(
      "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6Tlz"
      "AC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");
  assert_int_equal(body->size(), want.size());
  assert_true(body.value() == want);
}

void subscription_keys_are_checked(void**) {
  const std::string point =
      d("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
  assert_true(webpush::check_subscription_keys({point, std::string(16, 'a')}).ok());
  assert_false(webpush::check_subscription_keys({point, std::string(15, 'a')}).ok());
  std::string off_curve = point;
  off_curve[64] = static_cast<char>(off_curve[64] ^ 1);
  assert_false(webpush::check_subscription_keys({off_curve, std::string(16, 'a')}).ok());
  assert_false(webpush::check_subscription_keys({point.substr(0, 33), std::string(16, 'a')}).ok());
}

void vapid_keys_round_trip_and_sign(void**) {
  auto keys = webpush::make_vapid_keys();
  assert_true(keys.ok());
  assert_int_equal(keys->public_point.size(), 65);
  const SecretBytes stored = webpush::to_stored(keys.value());
  auto back = webpush::from_stored(stored.span());
  assert_true(back.ok());
  assert_true(back->public_point == keys->public_point);
  // A stored key whose point is not its scalar's is refused.
  SecretBytes broken(stored.data(), stored.size());
  broken.data()[0] ^= 1;
  assert_false(webpush::from_stored(broken.span()).ok());

  auto auth = webpush::vapid_authorization(keys.value(), "https://push.example.net", 1764300000,
                                           "mailto:ops@example.com");
  assert_true(auth.ok());
  const std::string& a = auth.value();
  assert_true(a.rfind("vapid t=eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.", 0) == 0);
  assert_true(a.find(", k=" + push::b64u_encode(push::as_bytes(keys->public_point))) != std::string::npos);
  const auto sig = a.substr(a.rfind('.') + 1, a.find(',') - a.rfind('.') - 1);
  assert_int_equal(sig.size(), 86);  // 64 bytes r || s, not DER
}

void endpoint_origins(void**) {
  assert_true(webpush::endpoint_origin("https://fcm.googleapis.com/fcm/send/abc") ==
              "https://fcm.googleapis.com");
  assert_true(webpush::endpoint_origin("http://127.0.0.1:9/x?y") == "http://127.0.0.1:9");
  assert_true(webpush::endpoint_origin("https://user@evil.example/x").empty());
  assert_true(webpush::endpoint_origin("ftp://x/y").empty());
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rfc8291_appendix_a),
      cmocka_unit_test(subscription_keys_are_checked),
      cmocka_unit_test(vapid_keys_round_trip_and_sign),
      cmocka_unit_test(endpoint_origins),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
