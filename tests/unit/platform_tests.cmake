# Account lookup and the file access identity (shared by the PAM module and
# twostep-enroll).
twostep_cmocka_test(test_account test_account.cpp)
