# ctest script: install the built relprop into a scratch prefix, then configure, build and
# run examples/ (embed, custom_model, explain_image, explain_text) against that installed tree, as an
# application would. explain_image runs when scripts/models.sh left ResNet-18 weights and
# a photograph in tests/data/models; otherwise it is built only.
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
# Every installed header sits under include/relprop/ (an application's own io/ or nn/
# folder must never meet ours).
file(GLOB top RELATIVE ${prefix}/include ${prefix}/include/*)
if(NOT top STREQUAL "relprop")
  message(FATAL_ERROR "installed include/ holds '${top}'; everything belongs under include/relprop/")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples -B ${WORK_DIR}/build
                        -G ${GENERATOR} -DCMAKE_BUILD_TYPE=${CONFIG} -DCMAKE_PREFIX_PATH=${prefix}
                        "-DCMAKE_CXX_FLAGS=${flags}" "-DCMAKE_EXE_LINKER_FLAGS=${flags}"
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring examples/ against ${prefix} failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build --config ${CONFIG} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building examples/ failed (${rc})")
endif()
execute_process(COMMAND ${WORK_DIR}/build/embed ${SOURCE_DIR}/examples/worked/weights.safetensors
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "examples/embed exited with ${rc}")
endif()
execute_process(COMMAND ${WORK_DIR}/build/custom_model ${WORK_DIR} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message("${out}")
if(rc OR NOT out MATCHES "epsilon-plus +target 0" OR NOT EXISTS ${WORK_DIR}/custom_model.png)
  message(FATAL_ERROR "examples/custom_model failed (${rc})")
endif()
set(models ${SOURCE_DIR}/tests/data/models)
if(EXISTS ${models}/resnet18/weights.safetensors AND EXISTS ${models}/efficientnet_lite0/photo.png)
  execute_process(COMMAND ${WORK_DIR}/build/explain_image resnet18 ${models}/resnet18/weights.safetensors
                          ${models}/efficientnet_lite0/photo.png ${WORK_DIR}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  message("${out}")
  if(rc OR NOT EXISTS ${WORK_DIR}/overlay.png)
    message(FATAL_ERROR "examples/explain_image failed (${rc})")
  endif()
else()
  message("examples/explain_image: built; not run (scripts/models.sh has not exported ResNet-18 and the photograph)")
endif()
if(EXISTS ${models}/all-MiniLM-L6-v2/model.safetensors)
  execute_process(COMMAND ${WORK_DIR}/build/explain_text ${models}/all-MiniLM-L6-v2
                          "A man is playing a guitar." "Someone plays music." ${WORK_DIR}/explain_text.html
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  message("${out}")
  if(rc OR NOT EXISTS ${WORK_DIR}/explain_text.html)
    message(FATAL_ERROR "examples/explain_text failed (${rc})")
  endif()
else()
  message("examples/explain_text: built; not run (tools/fetch_minilm.sh has not fetched all-MiniLM-L6-v2)")
endif()
