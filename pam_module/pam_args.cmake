# twostep_pam_args: the module's argument parser on its own, so twostep-check
# validates PAM lines with exactly the code the module runs (no copy to drift
# apart), and fuzz builds (which build no module) fuzz it: no PAM headers.
add_library(twostep_pam_args STATIC
  ${CMAKE_CURRENT_LIST_DIR}/audit.cpp
  ${CMAKE_CURRENT_LIST_DIR}/module_config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/scope.cpp  # groups= / skip_groups=
)
target_include_directories(twostep_pam_args PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(twostep_pam_args
  PUBLIC twostep::files
  PRIVATE twostep::build_flags)
target_compile_options(twostep_pam_args PRIVATE -fvisibility=hidden -fvisibility-inlines-hidden)
