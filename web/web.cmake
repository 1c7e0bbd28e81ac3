# The web page (web/): the static files plus xterm.js and its fit addon from
# npm, assembled into <build>/web, which `herd -web` serves by default
# (<directory of the herd binary>/web). npm installs into <build>/web-npm, never
# into the source tree, and runs again only when package*.json change. The
# browser test takes playwright-core from the same node_modules.
find_program(HERD_NPM npm)
if(NOT HERD_NPM)
  message(FATAL_ERROR "npm not found: the web page bundles xterm.js from npm at build time "
                      "(install Node.js 18+ with npm: scripts/deps.sh, or apt-get install npm)")
endif()

set(HERD_PAGE_DIR ${CMAKE_CURRENT_LIST_DIR})
set(HERD_PAGE_NPM ${CMAKE_BINARY_DIR}/web-npm)
set(HERD_PAGE_OUT ${CMAKE_BINARY_DIR}/web)
set(HERD_PAGE_MODULES ${HERD_PAGE_NPM}/node_modules)

add_custom_command(
  OUTPUT ${HERD_PAGE_NPM}/npm-ci.stamp
  COMMAND ${CMAKE_COMMAND} -E make_directory ${HERD_PAGE_NPM}
  COMMAND ${CMAKE_COMMAND} -E copy ${HERD_PAGE_DIR}/package.json ${HERD_PAGE_DIR}/package-lock.json
          ${HERD_PAGE_NPM}/
  COMMAND ${HERD_NPM} ci --prefix ${HERD_PAGE_NPM} --no-audit --no-fund --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E touch ${HERD_PAGE_NPM}/npm-ci.stamp
  DEPENDS ${HERD_PAGE_DIR}/package.json ${HERD_PAGE_DIR}/package-lock.json
  COMMENT "npm ci: xterm.js, its fit addon and playwright-core into web-npm/"
  VERBATIM)

# Our own files, copied as they are.
file(GLOB_RECURSE HERD_PAGE_FILES CONFIGURE_DEPENDS RELATIVE ${HERD_PAGE_DIR}
     ${HERD_PAGE_DIR}/*.html ${HERD_PAGE_DIR}/static/*)
set(HERD_PAGE_OUTPUTS)
foreach(_page_rel ${HERD_PAGE_FILES})
  add_custom_command(
    OUTPUT ${HERD_PAGE_OUT}/${_page_rel}
    COMMAND ${CMAKE_COMMAND} -E copy ${HERD_PAGE_DIR}/${_page_rel} ${HERD_PAGE_OUT}/${_page_rel}
    DEPENDS ${HERD_PAGE_DIR}/${_page_rel}
    VERBATIM)
  list(APPEND HERD_PAGE_OUTPUTS ${HERD_PAGE_OUT}/${_page_rel})
endforeach()

# The vendored files, from node_modules into static/.
foreach(_page_src
    "@xterm/xterm/lib/xterm.js" "@xterm/xterm/lib/xterm.js.map" "@xterm/xterm/css/xterm.css"
    "@xterm/addon-fit/lib/addon-fit.js" "@xterm/addon-fit/lib/addon-fit.js.map")
  get_filename_component(_page_file ${_page_src} NAME)
  add_custom_command(
    OUTPUT ${HERD_PAGE_OUT}/static/${_page_file}
    COMMAND ${CMAKE_COMMAND} -E copy ${HERD_PAGE_MODULES}/${_page_src}
            ${HERD_PAGE_OUT}/static/${_page_file}
    DEPENDS ${HERD_PAGE_NPM}/npm-ci.stamp
    VERBATIM)
  list(APPEND HERD_PAGE_OUTPUTS ${HERD_PAGE_OUT}/static/${_page_file})
endforeach()

add_custom_target(web_page ALL DEPENDS ${HERD_PAGE_OUTPUTS})
