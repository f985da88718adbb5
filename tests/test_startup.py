"""``import skmatgp`` and ``skmatgp --help`` stay light: the heavy libraries load on first use."""

import subprocess
import sys

import pytest

import skmatgp
import skmatgp.active

HEAVY = ("torch", "torch_geometric", "gpytorch", "chgnet", "sevenn", "pymatgen")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_importing_the_packages_loads_no_heavy_library():
    assert _loaded_after("import skmatgp, skmatgp.active") == set()


def test_help_and_version_load_no_heavy_library():
    code = "from skmatgp.cli import build_parser\nbuild_parser().format_help()"
    assert _loaded_after(code) == set()
    version = subprocess.run(
        [sys.executable, "-c", "from skmatgp.cli import main; main(['--version'])"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert version.stdout.strip() == f"skmatgp {skmatgp.__version__}"


@pytest.mark.slow  # subprocesses that import torch_geometric
def test_a_name_loads_its_module_on_use():
    assert "torch_geometric" not in _loaded_after("import skmatgp; skmatgp.GPRegressor")
    assert "torch_geometric" in _loaded_after("import skmatgp; skmatgp.GNNGPRegressor")


@pytest.mark.parametrize("package", [skmatgp, skmatgp.active])
def test_every_public_name_resolves_and_all_lists_them(package):
    assert sorted(package.__all__) == sorted(package._SOURCES)
    for name in package.__all__:
        assert getattr(package, name).__name__ == name
    assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        package.nothing  # noqa: B018
