"""The I/O patterns of recurrent nets, as `nn.Module` heads around any recurrent layer.

| pattern | inputs → outputs | class |
| --- | --- | --- |
| one-to-one | one vector → one output (one step from h_0 = 0) | :class:`OneToOne` |
| one-to-many | one vector (or a set of features) → a sequence | :class:`OneToMany` |
| many-to-one | a sequence → one output | :class:`ManyToOne` |
| many-to-many, synchronous | a sequence → one output per step | :class:`SequenceTagger` |
| many-to-many, encoder-decoder | a sequence → another sequence | :class:`Seq2Seq` |
| many-to-many, without alignment | a long sequence → a shorter labelling (CTC) | :class:`CTC` |

Plus the task-shaped heads :class:`LanguageModel`, :class:`Forecaster` (one series per example
with :class:`ChannelIndependent`) and
:class:`PianoRollModel` (many-to-many with a multi-label output: music), the
:class:`CRF`, attention modules, the :class:`Ensemble` of classifiers, and the shared decoding
in :mod:`rnnkit.patterns.decoding`.
Plain PyTorch: no Lightning or Hydra needed.
"""

from rnnkit.patterns.attention import (
    AdditiveAttention,
    Attention,
    DotAttention,
    GeneralAttention,
    make_attention,
)
from rnnkit.patterns.bridge import Bridge
from rnnkit.patterns.channel_independent import ChannelIndependent
from rnnkit.patterns.crf import CRF, allowed_transitions
from rnnkit.patterns.ctc import CTC, CTCOutput
from rnnkit.patterns.ctc_decoding import CTCLexicon, ctc_greedy_decode, ctc_prefix_beam_search
from rnnkit.patterns.decoding import (
    DecodeResult,
    StepDecoder,
    beam_search,
    greedy_decode,
    sample_decode,
)
from rnnkit.patterns.ensemble import Ensemble
from rnnkit.patterns.forecaster import Forecaster
from rnnkit.patterns.language_model import LanguageModel
from rnnkit.patterns.many_to_one import ManyToOne
from rnnkit.patterns.one_to_many import OneToMany
from rnnkit.patterns.one_to_one import OneToOne
from rnnkit.patterns.piano_roll import PianoRollModel
from rnnkit.patterns.seq2seq import Seq2Seq
from rnnkit.patterns.sequence_tagger import SequenceTagger
from rnnkit.patterns.teacher_forcing import TeacherForcingSchedule, use_teacher_forcing

__all__ = [
    "CRF",
    "CTC",
    "CTCLexicon",
    "CTCOutput",
    "AdditiveAttention",
    "Attention",
    "Bridge",
    "ChannelIndependent",
    "DecodeResult",
    "DotAttention",
    "Ensemble",
    "Forecaster",
    "GeneralAttention",
    "LanguageModel",
    "ManyToOne",
    "OneToMany",
    "OneToOne",
    "PianoRollModel",
    "Seq2Seq",
    "SequenceTagger",
    "StepDecoder",
    "TeacherForcingSchedule",
    "allowed_transitions",
    "beam_search",
    "ctc_greedy_decode",
    "ctc_prefix_beam_search",
    "greedy_decode",
    "make_attention",
    "sample_decode",
    "use_teacher_forcing",
]
