"""cryptocast: reproducible crypto forecasting with Toto and Kronos."""

import os

# OpenMP threads that spin-wait stall when another process shares the cores: two 2-thread torch
# jobs on 2 cores ran a Toto training step 157x slower (5.37 s against 0.034 s alone) with
# libgomp's default 300,000 spins. 1,000 spins keep the idle speed (0.036 s) and degrade to a
# fair share (0.097 s); passive waiting costs 2x when idle. bench/thread_contention.py measures
# it. libgomp reads this once, when torch loads it, so it is set before torch is imported,
# unless the environment already chooses a policy.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")
