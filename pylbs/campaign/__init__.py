"""The whole study as one campaign: campaign file -> tasks -> local or cluster runs -> HDF5 store -> report.

    spec.py        the campaign file (TOML) as checked dataclasses
    tasks.py       expansion into tasks with stable ids and dependencies
    local.py       local execution (parallel subprocesses under mpirun)
    dispatch.py    cluster execution and dry-run scripts through dpdispatcher
    store.py       the HDF5 result store (results, summaries, provenance), queryable
    provenance.py  versions, git commit, file hashes, seeds, schedules
    runner.py      run / resume / status / retry
    cli.py         ``pylbs campaign run|status|retry|plan`` and ``pylbs report``

See docs/campaigns.md.
"""

from .runner import CampaignRunner
from .spec import Campaign, CampaignError, load_campaign
from .store import Store
from .tasks import Task, expand

__all__ = ["Campaign", "CampaignError", "CampaignRunner", "Store", "Task", "expand", "load_campaign"]
