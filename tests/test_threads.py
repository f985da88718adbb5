"""Thread settings of the command line: they fit the process's cores, OpenMP threads sleep
instead of spinning, and what the user set wins."""

import os
import subprocess
import sys

import pytest

from skmatgp._threads import available_cpus, configure_threads


def test_auto_asks_for_the_cores_this_process_gets():
    environ = {}
    assert configure_threads(environ) == available_cpus()
    assert environ == {
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": str(available_cpus()),
        "MKL_NUM_THREADS": str(available_cpus()),
        "OPENBLAS_NUM_THREADS": str(available_cpus()),
    }
    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))


def test_user_settings_win_and_off_leaves_everything():
    environ = {"OMP_NUM_THREADS": "7", "OMP_WAIT_POLICY": "ACTIVE", "SKMATGP_THREADS": "3"}
    assert configure_threads(environ) == 3
    assert environ["OMP_NUM_THREADS"] == "7" and environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert environ["MKL_NUM_THREADS"] == "3"
    environ = {"SKMATGP_THREADS": "off"}
    assert configure_threads(environ) is None
    assert environ == {"SKMATGP_THREADS": "off"}


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_thread_count_is_refused_naming_the_variable(value):
    with pytest.raises(ValueError, match=f"SKMATGP_THREADS='{value}'"):
        configure_threads({"SKMATGP_THREADS": value})


def _printed_with_one_thread(code: str) -> list[str]:
    """What ``code`` prints in a new interpreter with SKMATGP_THREADS=1 and no thread variable
    of OpenMP, MKL or OpenBLAS set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_"))}
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env={**env, "SKMATGP_THREADS": "1"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_torch_starts_with_the_configured_threads():
    code = (
        "import os; from skmatgp._threads import configure_threads; configure_threads(); "
        "import torch; print(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])"
    )
    assert _printed_with_one_thread(code) == ["1", "PASSIVE"]


def test_numpy_starts_its_openblas_pool_after_the_command_line_sets_it():
    """numpy's OpenBLAS sizes its thread pool when numpy is imported: the command line must not
    import numpy before main has set the thread variables."""
    code = (
        "import os, sys; import skmatgp.cli as cli; cli.build_parser().format_help(); "
        "print('numpy' in sys.modules); cli.configure_threads(); import numpy, threadpoolctl; "
        "print(os.environ['OPENBLAS_NUM_THREADS'], "
        "*{i['num_threads'] for i in threadpoolctl.threadpool_info() if i['internal_api'] == 'openblas'})"
    )
    assert _printed_with_one_thread(code) == ["False", "1", "1"]


def test_the_command_line_says_a_bad_setting_in_one_line(tmp_path):
    env = {**os.environ, "SKMATGP_THREADS": "many"}
    out = subprocess.run(
        [sys.executable, "-m", "skmatgp.cli", "cv", "--dataset", "no_such_set"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "SKMATGP_THREADS='many'" in lines[0], out.stderr
