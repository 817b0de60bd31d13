"""posturewatch analysis: the detector, change scoring, posture reports and the CLI.

Importing this package does not import torch: the CPU change path and ``info``/``align`` start
fast. Torch is imported by the modules that need it (model, inference, training).
"""

__version__ = "0.1.0"
