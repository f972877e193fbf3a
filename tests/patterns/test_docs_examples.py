"""The code in docs/patterns.md runs as written."""

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "patterns.md"


def test_patterns_guide_snippets_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 6
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)  # noqa: S102
    assert tuple(namespace["out"].logits.shape) == (4, 7, 800)
    assert tuple(namespace["out"].attention.shape) == (4, 7, 12)
    assert tuple(namespace["best"].shape) == (4, 12)
    assert tuple(namespace["y"].shape) == (4, 3)
    assert tuple(namespace["forecast"].shape) == (4, 12, 1)
    assert tuple(namespace["per_channel"].shape) == (4, 12, 3)
    assert tuple(namespace["piece"].shape) == (1, 36, 88)
