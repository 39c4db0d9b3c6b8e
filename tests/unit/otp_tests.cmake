# Unit tests for the OTP half of the core: secrets, base32, HOTP/TOTP,
# verification policy, otpauth URIs.
twostep_cmocka_test(test_secret ${CMAKE_CURRENT_LIST_DIR}/test_secret.cpp)
twostep_cmocka_test(test_base32 ${CMAKE_CURRENT_LIST_DIR}/test_base32.cpp)
twostep_cmocka_test(test_otp ${CMAKE_CURRENT_LIST_DIR}/test_otp.cpp)
twostep_cmocka_test(test_policy ${CMAKE_CURRENT_LIST_DIR}/test_policy.cpp)
twostep_cmocka_test(test_uri ${CMAKE_CURRENT_LIST_DIR}/test_uri.cpp)
