# One libFuzzer target per parser; seeds in corpus/<name>/ (docs/fuzzing.md).
twostep_fuzzer(fuzz_base32 fuzz_base32.cpp)
twostep_fuzzer(fuzz_native_parser fuzz_native_parser.cpp)
twostep_fuzzer(fuzz_ga_parser fuzz_ga_parser.cpp)
twostep_fuzzer(fuzz_otpauth_uri fuzz_otpauth_uri.cpp)
twostep_fuzzer(fuzz_webauthn_assertion fuzz_webauthn_assertion.cpp)
