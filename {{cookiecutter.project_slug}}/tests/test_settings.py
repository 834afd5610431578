from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.settings import load_params


def test_params_file_loads() -> None:
    params = load_params(ROOT / "params.yaml")
    assert 0 < params.prepare.test_size < 1


def test_a_misspelled_parameter_is_an_error(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"]["model"]["learning_rte"] = raw["train"]["model"].pop("learning_rate")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))

    with pytest.raises(ValidationError, match="learning_rte"):
        load_params(path)
