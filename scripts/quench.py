#!/usr/bin/env python
"""The paper's FMP-LBS melt-quench of one glass, then 4B/5Si next to the measured 4B.

    mpirun -np 2 python scripts/quench.py --glass LBS-20-60-20 --atoms 300 --time-scale 0.01 --out runs/a
    python scripts/quench.py --composition 25 50 25 --density 2.22 --atoms 300 --out runs/b

Same as ``pylbs quench ...``. Re-running with the same --out resumes a killed run
or returns the finished result.
"""

import sys

from pylbs.cli import main

if __name__ == "__main__":
    sys.exit(main(["quench", *sys.argv[1:]]))
