"""Run PyTorch's own tests of its recurrent modules with rnnkit's classes substituted.

Given the ``test/`` folder of a PyTorch source tree (ideally at the installed torch's version),
this runs, on CPU, twice (once as is, once with ``torch.nn.RNN/LSTM/GRU/RNNCell/LSTMCell/
GRUCell`` replaced by rnnkit's, in ``torch.nn`` and in torch's ``module_db``):

* ``test_nn.py``, TestNN's and TestNNDeviceType's (on CPU: TestNNDeviceTypeCPU) tests of the
  recurrent modules: those whose name mentions RNN, LSTM or GRU, and those that build one
  without saying so in their name (``RECURRENT_TESTS_NOT_NAMED``);
* ``nn/test_packed_sequence.py``, all of it;
* ``test_modules.py``, the tests of the six recurrent ``module_db`` entries;

and prints, per file and per test class, how many tests torch.nn passes, how many rnnkit
passes, and every test that torch.nn passes and rnnkit does not (the goal: none). PyTorch's
test files are not part of rnnkit: fetch them from the pytorch/pytorch repository. They import
``expecttest`` and, for ``test_nn.py``, ``hypothesis`` (both in rnnkit's ``[dev]`` extra).

    python scripts/check_torch_suite.py ~/src/pytorch/test [--junit-dir out/]

Exit status 0 when rnnkit passes every test torch.nn passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

# test_nn.py's tests that build nn.RNN/LSTM/GRU or a cell although their name does not say
# RNN, LSTM or GRU (found by reading the whole file, commit 74f2fa66). The file's other
# "cudnn" tests (batch norm, CTC loss) are not recurrent, so "cudnn" is not a keyword.
RECURRENT_TESTS_NOT_NAMED = (
    "test_cudnn_forward_exception",
    "test_cudnn_weight_format",
    "test_cudnn_weight_tying",
    "test_pack_sequence_batch_sizes_throw",
    "test_partial_flat_weights",
    "test_variable_sequence",
)

SUITES = {
    # pytest's -k is case-insensitive: "rnn" selects test_RNN_cell and test_rnn_fused alike
    "test_nn.py": " or ".join(("rnn", "lstm", "gru", *RECURRENT_TESTS_NOT_NAMED)),
    "nn/test_packed_sequence.py": None,
    "test_modules.py": "nn_RNN or nn_LSTM or nn_GRU",
}

SUBSTITUTE = textwrap.dedent(
    """
    # Loaded by pytest (-p rnnkit_substitution) before any test file is imported.
    import torch
    import rnnkit

    NAMES = ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")


    def pytest_configure(config):
        originals = {getattr(torch.nn, name): getattr(rnnkit, name) for name in NAMES}
        try:
            from torch.testing._internal import common_modules
        except ImportError:
            common_modules = None
        entries = []
        if common_modules is not None:
            # torch.nn's test names (nn_RNN...): ModuleInfo.name is computed from the class
            # and from torch.nn's attributes, so it is read before either changes
            entries = [
                (info, info.name) for info in common_modules.module_db
                if info.module_cls in originals
            ]
        for name in NAMES:
            setattr(torch.nn, name, getattr(rnnkit, name))
        for info, name in entries:
            info.__class__ = type(
                "SubstitutedModuleInfo",
                (type(info),),
                {"name": property(lambda self, name=name: name)},
            )
            info.module_cls = originals[info.module_cls]
    """
)


def run_suite(test_dir: Path, suite: str, select: str | None, rnnkit: bool, junit: Path) -> None:
    """One pytest run of one file, torch.nn's classes or rnnkit's, results in ``junit``."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)]
    command += ["--junitxml", str(junit), "-o", "addopts=", "--rootdir", str(test_dir)]
    if select:
        command += ["-k", select]
    env = dict(os.environ, PYTORCH_TESTING_DEVICE_ONLY_FOR="cpu", CUDA_VISIBLE_DEVICES="")
    with tempfile.TemporaryDirectory() as plugin_dir:
        if rnnkit:
            (Path(plugin_dir) / "rnnkit_substitution.py").write_text(SUBSTITUTE)
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [plugin_dir, env.get("PYTHONPATH", "")])
            )
            command += ["-p", "rnnkit_substitution"]
        subprocess.run(command, cwd=test_dir, env=env, check=False, stdout=subprocess.DEVNULL)


def outcomes(junit: Path) -> dict[str, str]:
    """``{test id: "passed" | "failed" | "skipped"}`` from a junit XML file."""
    if not junit.exists():
        return {}
    results = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("skipped") is not None:
            results[name] = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            results[name] = "failed"
        else:
            results[name] = "passed"
    return results


def passed(results: dict[str, str]) -> set[str]:
    """The ids of the tests that passed."""
    return {name for name, result in results.items() if result == "passed"}


def summary(theirs: dict[str, str], ours: dict[str, str]) -> str:
    """One line: tests selected, passed by torch.nn, passed by rnnkit, skipped."""
    passed_theirs, passed_ours = passed(theirs), passed(ours)
    return (
        f"{len(theirs)} tests selected; torch.nn passes {len(passed_theirs)}, "
        f"rnnkit passes {len(passed_ours)} ({len(passed_theirs & passed_ours)} of torch.nn's "
        f"{len(passed_theirs)}); skipped {sum(r == 'skipped' for r in theirs.values())}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("test_dir", type=Path, help="PyTorch's test/ folder")
    parser.add_argument("--junit-dir", type=Path, help="keep the junit XML files here")
    parser.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES))
    args = parser.parse_args(argv)
    test_dir = args.test_dir.resolve()
    missing = [suite for suite in args.suites if not (test_dir / suite).exists()]
    if missing:
        print(f"test_dir: {test_dir} has no {', '.join(missing)}", file=sys.stderr)
        return 2
    import torch

    print(f"torch {torch.__version__}, PyTorch tests from {test_dir}")
    junit_dir = args.junit_dir or Path(tempfile.mkdtemp(prefix="torch_suite_"))
    junit_dir.mkdir(parents=True, exist_ok=True)
    regressions = 0
    totals = [0, 0, 0]
    for suite in args.suites:
        results = {}
        for side in ("torch.nn", "rnnkit"):
            junit = junit_dir / f"{suite.replace('/', '_')}.{side}.xml"
            run_suite(test_dir, suite, SUITES[suite], side == "rnnkit", junit)
            results[side] = outcomes(junit)
        theirs, ours = results["torch.nn"], results["rnnkit"]
        passed_theirs, passed_ours = passed(theirs), passed(ours)
        lost = sorted(passed_theirs - passed_ours)
        regressions += len(lost)
        for index, value in enumerate((len(theirs), len(passed_theirs), len(passed_ours))):
            totals[index] += value
        print(f"{suite}: {summary(theirs, ours)}")
        classes = sorted({name.split("::")[0] for name in theirs})
        for test_class in classes if len(classes) > 1 else ():
            prefix = f"{test_class}::"
            print(
                f"  {test_class}: "
                + summary(
                    {name: r for name, r in theirs.items() if name.startswith(prefix)},
                    {name: r for name, r in ours.items() if name.startswith(prefix)},
                )
            )
        for name in lost:
            print(f"  torch.nn passes, rnnkit fails: {name}")
        for name in sorted(passed_ours - passed_theirs):
            print(f"  rnnkit passes, torch.nn does not: {name}")
    print(
        f"total: {totals[0]} tests; torch.nn passes {totals[1]}, rnnkit passes "
        f"{totals[1] - regressions} of those; junit files in {junit_dir}"
    )
    return 0 if regressions == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
