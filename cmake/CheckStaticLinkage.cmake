# A test (ctest: BuildLinksDependenciesStatically): the program BINARY loads
# no shared library of what StaticDependencies.cmake links statically (gRPC,
# protobuf, abseil, OpenSSL, nghttp2, yaml-cpp and theirs), directly or
# through another library. One that did would hold a second copy of a
# library already linked in statically, with its own globals (protobuf's
# descriptor pool, gRPC's core state), and cost idle memory.
#
#   cmake -DBINARY=build/cmake/gateway/polymesh-gateway -P cmake/CheckStaticLinkage.cmake
if(NOT BINARY)
  message(FATAL_ERROR "pass -DBINARY=<program>")
endif()
include("${CMAKE_CURRENT_LIST_DIR}/StaticDependencies.cmake")
execute_process(COMMAND ldd "${BINARY}" OUTPUT_VARIABLE loaded RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "ldd ${BINARY} failed (${result})")
endif()
string(REGEX MATCHALL "lib(${POLYMESH_STATIC_ALTERNATIVES})\\.so[.0-9]*" shared_copies "${loaded}")
if(shared_copies)
  list(REMOVE_DUPLICATES shared_copies)
  message(FATAL_ERROR "${BINARY} loads ${shared_copies}, which the build links statically:\n${loaded}")
endif()
string(REGEX MATCHALL "lib[^ /\t\n]+\\.so[.0-9]*" all "${loaded}")
list(REMOVE_DUPLICATES all)
list(LENGTH all count)
message(STATUS "${BINARY}: ${count} shared libraries, none of those linked statically")
