# ctest script: install the built relprop into a scratch prefix, then configure, build and
# run examples/embed against that installed tree (what an application would do).
#   -DBUILD_DIR= -DSOURCE_DIR= -DWORK_DIR= -DGENERATOR= -DCONFIG= [-DSANITIZE=address,undefined]
# A sanitized relprop needs a sanitized application, so SANITIZE is passed on.
set(flags "")
if(SANITIZE)
  set(flags "-fsanitize=${SANITIZE}")
endif()
set(prefix ${WORK_DIR}/install)
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --config ${CONFIG}
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "installing relprop failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/embed -B ${WORK_DIR}/build
                        -G ${GENERATOR} -DCMAKE_BUILD_TYPE=${CONFIG} -DCMAKE_PREFIX_PATH=${prefix}
                        "-DCMAKE_CXX_FLAGS=${flags}" "-DCMAKE_EXE_LINKER_FLAGS=${flags}"
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring examples/embed against ${prefix} failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build --config ${CONFIG} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building examples/embed failed (${rc})")
endif()
execute_process(COMMAND ${WORK_DIR}/build/embed ${SOURCE_DIR}/examples/worked/weights.safetensors
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "examples/embed exited with ${rc}")
endif()
