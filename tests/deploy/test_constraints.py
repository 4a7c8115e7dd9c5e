"""``constraints.txt``: the one file of exact versions that set-up, CI and the images use.

A fresh machine must get the versions the tests ran with, not the newest ones each range in
``pyproject.toml`` allows; ``make lock`` refreshes the file (see the Makefile).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "constraints.txt"
# Installed first, from the CPU or CUDA index of its own (Makefile TORCH_SPEC, Dockerfiles).
INDEX_OF_ITS_OWN = re.compile(r"^(torch|triton|nvidia-.+)$")


def pins() -> dict[str, str]:
    """Canonical package name -> pinned version; every other line is a comment."""
    pinned = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, version = line.split("==")  # nothing else: no URLs, no editable installs
        pinned[canonicalize_name(name)] = version
    return pinned


def test_constraints_satisfy_every_declared_dependency():
    """Set-up and the images install the exact versions the tests ran with; they must meet
    pyproject."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = pins()
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    for spec in declared:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if INDEX_OF_ITS_OWN.match(name):
            continue
        assert name in pinned, f"{name} missing from constraints.txt (run `make lock`)"
        assert req.specifier.contains(pinned[name], prereleases=True), (spec, pinned[name])


def test_constraints_leave_out_recloop_and_torch():
    pinned = pins()
    assert "recloop" not in pinned
    assert not [name for name in pinned if INDEX_OF_ITS_OWN.match(name)]


@pytest.mark.parametrize("prefect_file", ["flows/prefect.yaml", "tests/integration/prefect.yaml"])
def test_prefect_yaml_names_the_pinned_prefect(prefect_file):
    """``prefect deploy`` records ``prefect-version``; it must be the Prefect that was tested."""
    declared = yaml.safe_load((REPO / prefect_file).read_text())["prefect-version"]
    assert str(declared) == pins()["prefect"]


def test_setup_and_every_image_install_with_the_constraints():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"pip install .*--constraint \$\(CONSTRAINTS\) -e '\.\[dev\]'", makefile)
    assert re.search(r"^CONSTRAINTS := constraints\.txt$", makefile, flags=re.M)
    for dockerfile in sorted((REPO / "docker").glob("*.Dockerfile")):
        text = dockerfile.read_text()
        assert "COPY constraints.txt /tmp/constraints.txt" in text, dockerfile.name
        installs = re.findall(r"pip install [^\n]*(?:\\\n[^\n]*)*", text)
        for install in installs:
            if "--index-url" in install:  # torch, from its own index
                continue
            assert "--constraint /tmp/constraints.txt" in install, (dockerfile.name, install)
