"""Every row of the bad-input table (docs/bad-input.md) is run here, and the page's table is
the one the catalogue renders (issue 29, point 8)."""

import pytest
import torch

from tests.bad_input_catalogue import CASES, PAGE, page_with_table, run


@pytest.mark.parametrize("case", CASES, ids=[c.input[:60] for c in CASES])
def test_row(case):
    if "without CUDA" in case.input and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    outcome = run(case)
    if case.then is not None:
        case.then(outcome)


def test_the_page_shows_the_table_the_tests_run():
    text = PAGE.read_text()
    assert text == page_with_table(text), "run `python tests/bad_input_catalogue.py` to rewrite the table"
