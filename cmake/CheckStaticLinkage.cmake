# A test (ctest: BuildLinksDependenciesStatically): the program BINARY loads
# no shared library of gRPC, protobuf, OpenSSL, nghttp2 or yaml-cpp, directly
# or through another library. One that did would hold a second copy of a
# library already linked in statically, with its own globals (protobuf's
# descriptor pool, gRPC's core state).
#
#   cmake -DBINARY=build/cmake/gateway/polymesh-gateway -P cmake/CheckStaticLinkage.cmake
if(NOT BINARY)
  message(FATAL_ERROR "pass -DBINARY=<program>")
endif()
execute_process(COMMAND ldd "${BINARY}" OUTPUT_VARIABLE loaded RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "ldd ${BINARY} failed (${result})")
endif()
string(REGEX MATCHALL "lib(grpc|grpc\\+\\+|grpc\\+\\+_[a-z_]+|gpr|upb|protobuf|ssl|crypto|nghttp2|yaml-cpp|re2|cares)\\.so[.0-9]*"
       shared_copies "${loaded}")
if(shared_copies)
  list(REMOVE_DUPLICATES shared_copies)
  message(FATAL_ERROR "${BINARY} loads ${shared_copies}, which the build links statically:\n${loaded}")
endif()
string(REGEX MATCHALL "lib[^ /\t\n]+\\.so[.0-9]*" all "${loaded}")
list(REMOVE_DUPLICATES all)
list(LENGTH all count)
message(STATUS "${BINARY}: ${count} shared libraries, none of gRPC, protobuf, OpenSSL, nghttp2 or yaml-cpp")
