"""The regime demonstration script runs end to end and writes its figure and summary."""

import json
from pathlib import Path

import pytest

from holstein.cli.regimes import REGIME_NAMES, main

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def test_regimes_script_writes_kymographs_and_summary(tmp_path):
    main(["--configfile", str(CONFIG), "--Lx", "8", "--Ly", "4", "--steps", "20",
          "--stride", "5", "--biases", "0.5,2,6", "--out", str(tmp_path)])
    assert (tmp_path / "kymographs.png").read_bytes()[:4] == b"\x89PNG"
    result = json.loads((tmp_path / "regimes.json").read_text())
    assert list(result["regimes"]) == list(REGIME_NAMES)
    survive = result["regimes"]["CDW survives"]
    assert survive["bias"] == 0.5 and survive["wall_velocity"] == 0.0  # far below threshold
    assert result["parameters"]["gamma"] == 1.0 and result["parameters"]["steps"] == 20


def test_regimes_script_without_a_config_names_the_fix(tmp_path):
    with pytest.raises(SystemExit):
        main(["--configfile", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)])
