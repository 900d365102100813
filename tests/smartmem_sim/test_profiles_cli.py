"""`smartmem profiles`: every shipped profile, its numbers and their sources as the TOML files hold them."""
import json
import tomllib

from smartmem_sim import memsim
from smartmem_sim.cli import main


def _sources_in_file(path) -> dict[str, str]:
    """Every source string of a profile file, read with tomllib alone (keys: the source table's path)."""
    out = {}

    def walk(table, prefix):
        for k, v in table.items():
            if k == "source" and isinstance(v, dict):
                out.update({f"{prefix}{name}": text for name, text in v.items()})
            elif isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            elif isinstance(v, list):
                for item in v:
                    if isinstance(item, dict):
                        walk(item, f"{prefix}{k}.{item.get('name', '')}.")

    walk(tomllib.loads(open(path).read()), "")
    return out


def test_json_lists_every_shipped_profile_with_its_guesses(capsys):
    assert main(["profiles", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert doc["schema"] == 1 and [p["name"] for p in doc["profiles"]] == memsim.list_profiles()
    for p in doc["profiles"]:
        texts = list(_sources_in_file(p["file"]).values())
        assert sorted(p["sources"].values()) == sorted(texts)
        assert len(p["guesses"]) == sum(t.strip().lower().startswith("guess") for t in texts)
        assert p["prices_kernels"] == ("execution" in tomllib.loads(open(p["file"]).read()))


def test_table_and_sources_of_one_profile(capsys):
    assert main(["profiles", "adreno740", "--sources"]) == 0
    out = capsys.readouterr().out
    assert "adreno740" in out and "mali_g57" not in out and "levels.L1.size" in out


def test_an_unknown_profile_is_a_named_error(capsys):
    assert main(["profiles", "no_such_gpu"]) == 2
    err = capsys.readouterr().err
    assert "no_such_gpu" in err and len(err.strip().splitlines()) == 1
