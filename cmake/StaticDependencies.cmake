# Links gRPC, protobuf, abseil and their dependencies (re2, c-ares, OpenSSL,
# zlib), nghttp2 and yaml-cpp statically: Debian ships their archives beside
# the shared libraries, and the imported targets that find_package() made are
# pointed at those archives.
#
# Why: a process that maps dozens of shared libraries pays for each library's
# dynamic symbol tables and relocations in resident memory at start, and
# pages of code that only the start ran stay resident. Linked statically, the
# gateway keeps only what it uses (docs/BENCHMARKS.md, idle RSS).
#
# What stays shared: libc, libstdc++, prometheus-cpp and civetweb (no
# archives in Debian). Of opentelemetry-cpp only the header-only API is used:
# its SDK and OTLP exporter are shared libraries only, linking abseil, gRPC
# and protobuf as shared libraries, which would put a second copy of them in
# the process; the gateway samples, records and exports spans itself
# (gateway/src/observability).
#
# Call polymesh_link_dependencies_statically() after the find_package() calls,
# in the directory that made the imported targets.

# Library names (lib<name>.so) that are swapped for lib<name>.a, as regular
# expression alternatives; CheckStaticLinkage.cmake includes this file and
# checks that no program loads any of them.
set(_POLYMESH_STATIC_NAMES
  "grpc" "grpc\\+\\+" "grpc\\+\\+_[a-z_]+" "gpr" "upb" "address_sorting" "protobuf" "absl_[a-z0-9_]+"
  "cares" "ssl" "crypto" "z" "nghttp2" "yaml-cpp" "re2")
list(JOIN _POLYMESH_STATIC_NAMES "|" POLYMESH_STATIC_ALTERNATIVES)
set(_POLYMESH_STATIC_PATTERN "^(.*)/lib(${POLYMESH_STATIC_ALTERNATIVES})\\.so(\\.[0-9.]+)?$")

# The archive for the shared library `path`, or "" when there is none.
function(_polymesh_archive_for path out)
  set(archive "")
  if(path MATCHES "${_POLYMESH_STATIC_PATTERN}")
    set(candidate "${CMAKE_MATCH_1}/lib${CMAKE_MATCH_2}.a")
    if(EXISTS "${candidate}")
      set(archive "${candidate}")
    endif()
  endif()
  set(${out} "${archive}" PARENT_SCOPE)
endfunction()

function(polymesh_link_dependencies_statically)
  get_directory_property(targets IMPORTED_TARGETS)
  set(swapped 0)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "SHARED_LIBRARY" OR type STREQUAL "UNKNOWN_LIBRARY")
      # IMPORTED_LOCATION and its per-configuration forms.
      get_target_property(configs ${target} IMPORTED_CONFIGURATIONS)
      set(properties IMPORTED_LOCATION)
      if(configs)
        foreach(config IN LISTS configs)
          string(TOUPPER "${config}" config)
          list(APPEND properties "IMPORTED_LOCATION_${config}")
        endforeach()
      endif()
      foreach(property IN LISTS properties)
        get_target_property(location ${target} ${property})
        if(location)
          _polymesh_archive_for("${location}" archive)
          if(archive)
            set_target_properties(${target} PROPERTIES ${property} "${archive}")
            math(EXPR swapped "${swapped} + 1")
          endif()
        endif()
      endforeach()
    endif()
    # Libraries named in link interfaces: pkg-config's full paths
    # (PkgConfig::NGHTTP2) and -l flags (re2::re2).
    get_target_property(interface ${target} INTERFACE_LINK_LIBRARIES)
    if(interface)
      set(rewritten "")
      foreach(item IN LISTS interface)
        if(item MATCHES "^-l(.+)$")
          find_library(_polymesh_lib_${CMAKE_MATCH_1} NAMES "lib${CMAKE_MATCH_1}.so")
          if(_polymesh_lib_${CMAKE_MATCH_1})
            _polymesh_archive_for("${_polymesh_lib_${CMAKE_MATCH_1}}" archive)
            if(archive)
              set(item "${archive}")
            endif()
          endif()
        else()
          _polymesh_archive_for("${item}" archive)
          if(archive)
            set(item "${archive}")
          endif()
        endif()
        list(APPEND rewritten "${item}")
      endforeach()
      if(NOT rewritten STREQUAL interface)
        set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${rewritten}")
        math(EXPR swapped "${swapped} + 1")
      endif()
    endif()
  endforeach()
  message(STATUS "Linking gRPC, protobuf, abseil and their dependencies statically "
                 "(${swapped} locations)")
endfunction()
