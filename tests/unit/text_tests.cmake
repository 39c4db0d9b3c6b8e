# core/text: the one rule for text shown to people, duplicate JSON keys.
twostep_cmocka_test(test_display_text ${CMAKE_CURRENT_LIST_DIR}/test_display_text.cpp)
