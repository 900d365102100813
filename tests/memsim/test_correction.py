"""memsim/correction.py: the [correction] table is checked as strictly as the rest of a profile, and its factor
is the documented clipped log-linear formula (by hand)."""
import math

import pytest

from smartmem_sim import memsim
from smartmem_sim.memsim.correction import FEATURES, Correction
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.profiles import profile_from_dict

F2 = ("log_predicted_us", "log_work_items")


def test_factor_by_hand_and_clip():
    c = Correction(F2, 8.0, {"MatMul": [0.5, -0.1, 0.2]})
    v = {"log_predicted_us": math.log(10.0), "log_work_items": math.log(1000.0)}
    assert c.factor("MatMul", v) == pytest.approx(math.exp(0.5 - 0.1 * math.log(10) + 0.2 * math.log(1000)))
    assert c.factor("Add", v) == 1.0  # no coefficients: the formula alone
    big = {"log_predicted_us": 0.0, "log_work_items": 100.0}
    assert c.factor("MatMul", big) == 8.0 and Correction(F2, 4.0, {"MatMul": [-9, 0, 0]}).factor("MatMul", v) == 0.25


@pytest.mark.parametrize("table, msg", [
    ({"features": ["nope"], "clip": 8, "kinds": {}}, "features"),
    ({"features": list(F2), "clip": 0.5, "kinds": {}}, "clip"),
    ({"features": list(F2), "clip": 8, "kinds": {"MatMul": [1, 2]}}, "kinds.MatMul"),
    ({"features": list(F2), "clip": 8, "kinds": {"MatMul": [1, 2, float("nan")]}}, "kinds.MatMul"),
    ({"features": list(F2), "clip": 8}, "missing key"),
    ({"features": list(F2), "clip": 8, "kinds": {}, "extra": 1}, "unknown key"),
])
def test_bad_tables_name_the_field(table, msg):
    with pytest.raises(MemsimError, match=msg):
        Correction.from_dict(table, where="x.toml: [correction]")


def _profile_with(corr: dict) -> dict:
    import tomllib

    data = tomllib.loads(memsim.profiles.profile_path("h100_opencl").read_text())
    data.pop("correction", None)
    return data | {"correction": corr}


def test_a_profile_carries_a_sourced_correction():
    corr = {"features": list(FEATURES), "clip": 8.0, "kinds": {"MatMul": [0.1] * (1 + len(FEATURES))},
            "source": {"clip": "choice", "kinds": "calibrated: test"}}
    prof = profile_from_dict(_profile_with(corr), "p.toml")
    assert prof.correction.kinds["MatMul"][0] == 0.1 and prof.sources["correction.kinds"] == "calibrated: test"
    unsourced = {k: v for k, v in corr.items() if k != "source"}
    with pytest.raises(MemsimError, match="correction"):
        profile_from_dict(_profile_with(unsourced), "p.toml")
