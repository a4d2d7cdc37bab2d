"""Many devices, many models: measurements on a Ray cluster's device workers, and ``rewrite zoo``.

Modules: ``cluster`` (``RemoteMeasurer``: the remote side of ``rewriter.cost.measure``; what a
device worker advertises; one-line failures), ``zoo`` (every model of a folder planned and
rewritten, in parallel on the cluster or one after another here). Ray is optional
(``pip install 'pau-rewriter[ray]'``); nothing here imports it at module level.
"""

from .cluster import DEFAULT_WAIT, FleetError, RemoteMeasurer, check_reachable, require_ray
from .zoo import ZooOptions, ZooRow, rewrite_one, run_zoo

__all__ = [
    "DEFAULT_WAIT",
    "FleetError",
    "RemoteMeasurer",
    "check_reachable",
    "require_ray",
    "ZooOptions",
    "ZooRow",
    "rewrite_one",
    "run_zoo",
]
