"""The architecture page (docs/architecture.md) names every module of the package, so that a
new module cannot land without its line in the module map."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "skmatgp"


def test_every_module_has_a_line_in_the_module_map():
    page = (ROOT / "docs" / "architecture.md").read_text()
    modules = sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts and path.name != "__init__.py"
    )
    assert modules
    missing = [name for name in modules if f"| `{name}` |" not in page]
    assert not missing, (
        f"docs/architecture.md has no line for {missing}: add one row per module to its "
        "module map, under the layer it belongs to."
    )
