"""MusicXML and ABC through music21: notes, chords, ties, parts, tune books, bad files."""

from __future__ import annotations

import music21
import pytest

from rnnkit.data.music.scores import read_score


def two_part_score():
    """Soprano: C5 half, D5 quarter tied to a quarter; Horn: a C-major chord, a whole note."""
    score = music21.stream.Score()
    soprano = music21.stream.Part(id="Soprano")
    soprano.partName = "Soprano"
    soprano.append(music21.note.Note("C5", quarterLength=2))
    tied = music21.note.Note("D5", quarterLength=1)
    tied.tie = music21.tie.Tie("start")
    soprano.append(tied)
    end = music21.note.Note("D5", quarterLength=1)
    end.tie = music21.tie.Tie("stop")
    soprano.append(end)
    horn = music21.stream.Part(id="Horn")
    horn.partName = "Horn 1"
    horn.append(music21.chord.Chord(["C3", "E3", "G3"], quarterLength=4))
    score.insert(0, soprano)
    score.insert(0, horn)
    return score


def test_musicxml_parts_chords_and_ties(tmp_path):
    path = tmp_path / "piece.musicxml"
    two_part_score().write("musicxml", fp=path)
    ((name, steps),) = read_score(path)
    assert name == "piece"
    assert steps == [[48, 52, 55, 72]] * 2 + [[48, 52, 55, 74]] * 2
    assert (
        read_score(path, steps_per_beat=2)[0][1] == [[48, 52, 55, 72]] * 4 + [[48, 52, 55, 74]] * 4
    )
    # Only the voices: the horn's chord goes.
    assert read_score(path, parts=["Soprano", "Alto"])[0][1] == [[72], [72], [74], [74]]
    # No part of these names: the whole score.
    assert read_score(path, parts=["Tenor"])[0][1] == steps


def test_compressed_mxl_from_the_corpus_reads(tmp_path):
    path = music21.corpus.getWork("bwv66.6")
    ((name, steps),) = read_score(path)
    assert name == "bwv66.6" and 30 <= len(steps) <= 40
    assert max(map(len, steps)) == 4 and all(21 <= p <= 108 for s in steps for p in s)


ABC_BOOK = """X:1
T:First
M:4/4
L:1/4
K:C
C E G c|

X:2
T:Second
M:4/4
L:1/4
K:G
[GBd]2 z d|
"""


def test_an_abc_tune_book_gives_one_piece_per_tune(tmp_path):
    path = tmp_path / "book.abc"
    path.write_text(ABC_BOOK)
    pieces = read_score(path)
    assert [name for name, _ in pieces] == ["book#0", "book#1"]
    assert pieces[0][1] == [[60], [64], [67], [72]]
    assert pieces[1][1] == [[67, 71, 74], [67, 71, 74], [], [74]]


def test_scores_without_notes_or_out_of_range_are_named(tmp_path):
    rests = tmp_path / "rests.abc"
    rests.write_text("X:1\nT:Rests\nM:4/4\nL:1/4\nK:C\nz4|\n")
    with pytest.raises(ValueError, match=r"rests\.abc: no notes$"):
        read_score(rests)
    score = music21.stream.Score([music21.stream.Part([music21.note.Note(12, quarterLength=1)])])
    low = tmp_path / "low.musicxml"
    score.write("musicxml", fp=low)
    with pytest.raises(ValueError, match=r"low\.musicxml: pitch 12 is outside the piano's range"):
        read_score(low)


def test_a_file_that_is_not_a_score_is_named(tmp_path):
    path = tmp_path / "broken.mxl"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match=r"broken\.mxl: not a readable score"):
        read_score(path)
