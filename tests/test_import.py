import subprocess
import sys


def test_import_rnnkit_has_no_lightning_or_hydra():
    code = (
        "import sys, rnnkit; "
        "print(rnnkit.LSTM(8, 16, num_layers=2, bidirectional=True)); "
        "assert not any(m.split('.')[0] in ('lightning', 'pytorch_lightning', 'hydra') "
        "for m in sys.modules), 'rnnkit must import without Lightning or Hydra'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "LSTMCell(32, 16)" in result.stdout
