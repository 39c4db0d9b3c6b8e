# Removes exactly the files `cmake --install` wrote, as listed in the build
# directory's install_manifest.txt. Run through the `uninstall` target:
#   sudo cmake --build build/release --target uninstall
# (with the same DESTDIR environment variable as the install, if any).
if(NOT DEFINED MANIFEST OR NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "no ${MANIFEST}: nothing was installed from this build directory")
endif()
file(STRINGS "${MANIFEST}" installed_files)
foreach(listed IN LISTS installed_files)
  # The manifest holds paths without DESTDIR; honour it as `cmake --install` does.
  set(installed "$ENV{DESTDIR}${listed}")
  if(EXISTS "${installed}" OR IS_SYMLINK "${installed}")
    message(STATUS "Removing ${installed}")
    file(REMOVE "${installed}")
    if(EXISTS "${installed}")
      message(FATAL_ERROR "could not remove ${installed}")
    endif()
  else()
    message(STATUS "Already gone: ${installed}")
  endif()
endforeach()
