# One libFuzzer target per parser; seeds in corpus/<name>/ (docs/fuzzing.md).
twostep_fuzzer(fuzz_base32 fuzz_base32.cpp)
twostep_fuzzer(fuzz_native_parser fuzz_native_parser.cpp)
twostep_fuzzer(fuzz_ga_parser fuzz_ga_parser.cpp)
twostep_fuzzer(fuzz_otpauth_uri fuzz_otpauth_uri.cpp)
twostep_fuzzer(fuzz_webauthn_assertion fuzz_webauthn_assertion.cpp)
# The host side of push (core/push/src/push_login.cpp): push.conf, and the relay's
# answers with the approvals in them (the phone's signer from tests/unit).
twostep_fuzzer(fuzz_push_config fuzz_push_config.cpp)
twostep_fuzzer(fuzz_relay_answer fuzz_relay_answer.cpp)
target_include_directories(fuzz_relay_answer PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
# Outside input read before any parser above: the typed code, the secret=
# path template with the login's user and home, the host secret file.
twostep_fuzzer(fuzz_typed_code fuzz_typed_code.cpp)
twostep_fuzzer(fuzz_secret_path fuzz_secret_path.cpp)
twostep_fuzzer(fuzz_host_secret fuzz_host_secret.cpp)
# The module's arguments (pam_module/module_config.cpp, built alone in fuzz builds).
if(TARGET twostep_pam_args)
  twostep_fuzzer(fuzz_module_args fuzz_module_args.cpp)
  target_link_libraries(fuzz_module_args PRIVATE twostep_pam_args)
endif()
