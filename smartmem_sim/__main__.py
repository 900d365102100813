"""``python -m smartmem_sim``: the `smartmem` command line."""
import sys

from smartmem_sim.cli import main

sys.exit(main())
