"""Speech from manifests: one CSV or TSV file per split listing audio files and transcripts.

The format of Common Voice (``path`` and ``sentence`` columns in ``train.tsv``, ``dev.tsv``,
``test.tsv``, audio under ``clips/``) and of most home-made data sets: a header row naming the
columns, then one row per recording. A ``.tsv`` file is tab-separated, anything else
comma-separated (RFC 4180 quoting). Audio paths are relative to ``audio_folder`` (default: the
manifest's own folder) unless absolute.

A row without the named columns, with an empty path, or (``on_bad_line=error``) with an empty
transcript stops with the manifest's file and line; ``on_bad_line=skip`` drops such rows with
one counted warning. A listed audio file that is missing stops with the manifest line; one
that is not usable audio stops when it is read, naming the audio file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.data.builtin import check_split
from rnnkit.data.io.reading import BadLinePolicy, check_on_bad_line, read_csv_records
from rnnkit.data.speech.datamodule import SpeechDataModule


def read_manifest(
    path: Path,
    path_column: str,
    transcript_column: str,
    audio_folder: Path | None = None,
    on_bad_line: str = "error",
) -> list[dict[str, Any]]:
    """Raw examples ``{"path", "transcript", "source", "origin"}`` of one manifest file."""
    if not path.is_file():
        raise FileNotFoundError(2, "manifest file not found", str(path))
    folder = audio_folder if audio_folder is not None else path.parent
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    examples = []
    with BadLinePolicy(path, on_bad_line) as policy:
        records = read_csv_records(path, policy, delimiter)
        header = next(records, None)
        if header is None:
            raise ValueError(f"{path}: empty manifest; expected a header row naming the columns")
        names = [name.strip() for name in header[1]]
        for column in (path_column, transcript_column):
            if column not in names:
                raise ValueError(
                    f"{path}, line {header[0]}: no {column!r} column; found {names} "
                    f"(data.path_column / data.transcript_column name them)"
                )
        where_path, where_text = names.index(path_column), names.index(transcript_column)
        for line, fields in records:
            if len(fields) != len(names):
                policy.report(f"expected {len(names)} columns, found {len(fields)}", line)
                continue
            audio, text = fields[where_path].strip(), fields[where_text]
            if not audio:
                policy.report(f"empty {path_column!r}; expected an audio file", line)
                continue
            if not text.strip():
                policy.report(f"empty transcript ({transcript_column!r}) for {audio}", line)
                continue
            file = Path(audio) if Path(audio).is_absolute() else folder / audio
            if not file.is_file():
                raise FileNotFoundError(2, f"{path}, line {line}: audio file not found", str(file))
            examples.append(
                {
                    "path": str(file),
                    "transcript": text,
                    "source": str(file),
                    "origin": f"{path}, line {line}",
                }
            )
    if not examples:
        raise ValueError(f"{path}: expected at least one row after the header, got none")
    return examples


class ManifestDataModule(SpeechDataModule):
    """Train, validation and test manifests (CSV or TSV; see the module docstring).

    Args:
        train_manifest, val_manifest, test_manifest: the files (paths).
        path_column, transcript_column: the header names of the audio path and the transcript
            (Common Voice: ``path`` and ``sentence``).
        audio_folder: where relative audio paths start; null: each manifest's folder.
        on_bad_line: ``error`` | ``skip`` for malformed rows.
        Others: as :class:`~rnnkit.data.speech.datamodule.SpeechDataModule`.
    """

    def __init__(
        self,
        train_manifest: str,
        val_manifest: str,
        test_manifest: str,
        path_column: str = "path",
        transcript_column: str = "transcript",
        audio_folder: str | None = None,
        on_bad_line: str = "error",
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        sample_rate: int = 16000,
        n_mels: int = 40,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        f_min: float = 20.0,
        alphabet: str | None = None,
        lowercase: bool = True,
    ) -> None:
        super().__init__(
            batch_size, num_workers, seed, sample_rate, n_mels, window_ms, hop_ms, f_min,
            alphabet, lowercase,
        )  # fmt: skip
        self.manifests = {
            "train": str(train_manifest),
            "val": str(val_manifest),
            "test": str(test_manifest),
        }
        self.path_column = path_column
        self.transcript_column = transcript_column
        self.audio_folder = None if audio_folder in (None, "") else str(audio_folder)
        self.on_bad_line = check_on_bad_line(on_bad_line)

    def load_split(self, split: str) -> list[dict[str, Any]]:
        return read_manifest(
            Path(self.manifests[check_split(split)]),
            self.path_column,
            self.transcript_column,
            None if self.audio_folder is None else Path(self.audio_folder),
            self.on_bad_line,
        )
