# Secret-file formats and the locked atomic store.
twostep_cmocka_test(test_secret_file_native test_secret_file_native.cpp)
twostep_cmocka_test(test_secret_file_ga test_secret_file_ga.cpp)
twostep_cmocka_test(test_secret_store test_secret_store.cpp)
# Forks 20 processes per round; keep it away from the other tests' timing.
set_tests_properties(test_secret_store PROPERTIES TIMEOUT 300)
