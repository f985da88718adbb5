"""Sphinx configuration for the skmatgp documentation.

Build (warnings are errors):

    pip install ".[docs]" && sphinx-build -W --keep-going -b html docs docs/_build/html

With ``SKMATGP_SMOKE=1`` in the environment every gallery example runs in its smoke mode
(a few epochs, tiny subsets; the figures are then meaningless but the build takes a minute);
``-D plot_gallery=0`` builds the gallery pages without running the examples.
"""

import re
import sys
from pathlib import Path

import skmatgp

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # build from a checkout without installing

project = "skmatgp"
author = "skmatgp developers"
copyright = "skmatgp developers, BSD-3-Clause"
release = version = skmatgp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.codeobj.json"]
templates_path = ["_templates"]

# --- Markdown (the existing pages are MyST, reused as they are)
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 4  # the pages link to sections as page.md#section-title

# --- API reference
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
# methods without a docstring of their own (ActiveLearner.fit and .teach override modAL's)
# are not documented with modAL's reST-incompatible docstrings; the class docstring covers them
autodoc_inherit_docstrings = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {}  # no network at build time: no intersphinx inventories

# --- Examples gallery
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run every example, not only plot_*.py
    "within_subsection_order": "FileNameSortKey",  # examples are numbered
    "abort_on_example_error": False,  # run them all, then fail the build and name each failure
    "download_all_examples": False,
    "remove_config_comments": True,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "min_reported_time": 1,
}


def _skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_<method>_request`` metadata-routing methods."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)


# --- HTML
html_theme = "pydata_sphinx_theme"
html_title = "skmatgp"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []
