"""dpdispatcher (Slurm, PBS, LSF, ... or a plain shell), imported the way pylbs needs it: its log in the
run's own folder, not the current directory (where dpdispatcher writes on import), and only its
warnings on the terminal. Campaigns submit their tasks through it, the labeller its DFT frames."""

from __future__ import annotations

import threading
from pathlib import Path

from .errors import PylbsError

#: the import changes the working directory and the log handler is process-wide: one caller at a time
#: (the loop's trainings submit from several threads)
_LOCK = threading.Lock()


def import_dpdispatcher(log_dir: Path):
    """Import dpdispatcher with its log in ``log_dir/dpdispatcher.log`` (not the current directory, where
    it writes on import) and only warnings on stdout."""
    with _LOCK:
        return _import(Path(log_dir))


def _import(log_dir: Path):
    import logging
    import os
    import sys

    log_dir.mkdir(parents=True, exist_ok=True)
    if "dpdispatcher" not in sys.modules:
        cwd = os.getcwd()
        os.chdir(log_dir)
        try:
            import dpdispatcher  # noqa: F401
        except ImportError as exc:  # pragma: no cover - dpdispatcher is in requirements/base.txt
            raise PylbsError("queue jobs need dpdispatcher: pip install -c requirements/constraints.txt "
                             "dpdispatcher") from exc
        finally:
            os.chdir(cwd)
    from dpdispatcher.dlog import dlog

    target = str((log_dir / "dpdispatcher.log").resolve())
    for h in list(dlog.handlers):
        if isinstance(h, logging.FileHandler) and h.baseFilename != target:
            dlog.removeHandler(h)
            h.close()
        elif isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            h.setLevel(logging.WARNING)
    if not any(isinstance(h, logging.FileHandler) for h in dlog.handlers):
        fh = logging.FileHandler(target, delay=True)
        fh.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s : %(message)s"))
        dlog.addHandler(fh)
    import dpdispatcher

    return dpdispatcher
