"""posturewatch analysis: the detector, change scoring, posture reports and the CLI.

Importing this package does not import torch: the CPU change path and ``info``/``align`` start
fast. Torch is imported by the modules that need it (model, inference, training).
"""

import os as _os

# OpenMP workers that spin while waiting take the cores from whatever else runs (the tile reader
# threads, GDAL's decoders, another process); each OpenMP runtime reads this once, when it loads,
# so it is set here, before any detect module imports torch or numba. Measured on the 2-core
# machine: detector end to end 1.7 Mpx/s spinning vs 5.2 passive under the same load (no
# measurable cost when idle); the change stream of a 10000^2 pair 3.04-3.10 s spinning vs
# 2.69-2.73 s passive (numba's workers waiting between tiles for the decoded next one; 3 A/B
# runs each, 2026-12-05). A value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
