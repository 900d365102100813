"""Hypothesis settings for the layout-algebra tests: explicit example counts, derandomized.

The profile is registered, not loaded, so other packages' tests keep their own settings; each
test here starts from it with ``@settings(LAYOUT, max_examples=N)``. Counts add up to >= 1,000
examples (test_simplify 450 + 150, test_ops 450, test_image 150).
"""
from hypothesis import HealthCheck, settings

settings.register_profile(
    "smartmem-layout",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
LAYOUT = settings.get_profile("smartmem-layout")
