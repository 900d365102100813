"""Suite-wide settings."""
import os

# The kernel cache (smartmem_sim/kernel_cache.py) would let one test's simulations answer another's and would
# write into the user's home folder; the suite runs without it, and tests/smartmem_sim/test_kernel_cache.py
# turns it on in a temporary folder where it is the subject.
os.environ["SMARTMEM_CACHE"] = "off"
