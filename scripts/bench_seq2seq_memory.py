"""Benchmark the memory and time of one translation training step, three ways.

The ``multi30k_gru_attention`` model (bidirectional GRU encoder, additive attention, input
feeding, GRU decoder, Adam) with the vocabulary sizes a 10x/100x Multi30k gives (17,915 source,
9,785 target types), on random batches of ``--batch`` pairs of ``--length`` tokens each side
and teacher forcing 0.5 (the reference config's), one thread:

* ``logits``: the decoder's ``(N, T, V)`` logits, then ``cross_entropy`` (the code before
  ``Seq2Seq.loss``), the attention's hidden layer kept for the backward pass;
* ``stepwise``: ``Seq2Seq.loss``, the cross entropy step by step, hidden layer kept;
* ``stepwise+recompute``: ``Seq2Seq.loss`` with the additive attention's hidden layer
  recomputed in the backward pass (rnnkit's default).

Each way runs in a fresh process (peak RSS is a process's high-water mark, ``ru_maxrss``) for
``--steps`` steps; the seconds per step are the median of the steps after the first. The ways
are interleaved ``--repeats`` times and the medians reported.

    PYTHONPATH=src .venv/bin/python scripts/bench_seq2seq_memory.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

MODES = ("logits", "stepwise", "stepwise+recompute")
SOURCE_VOCAB, TARGET_VOCAB = 17_915, 9_785


def run_one(mode: str, batch: int, length: int, steps: int) -> dict[str, float]:
    """Train ``steps`` steps here; the peak RSS (MiB) and the median seconds per step."""
    import resource
    import time

    import torch

    from rnnkit.cli.compose import compose_run
    from rnnkit.cli.train import as_dict
    from rnnkit.tasks.translation import TranslationTask

    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = compose_run(["experiment=multi30k_gru_attention"], "/tmp/bench-seq2seq-memory")
    spec = {
        "source_vocab_size": SOURCE_VOCAB,
        "target_vocab_size": TARGET_VOCAB,
        "pad_index": 0,
        "bos_index": 2,
        "eos_index": 3,
    }
    task_config = as_dict(cfg.task)
    task_config.pop("_target_")
    task = TranslationTask(
        cell=as_dict(cfg.cell),
        model=as_dict(cfg.model),
        data_spec=spec,
        data=as_dict(cfg.data),
        **task_config,
    )
    for module in task.modules():
        if hasattr(module, "recompute_hidden"):
            module.recompute_hidden = mode == "stepwise+recompute"
    optimizer = torch.optim.Adam(task.parameters(), 1e-3)
    generator = torch.Generator().manual_seed(0)
    task.train()
    times = []
    for _ in range(steps):
        source = torch.randint(4, SOURCE_VOCAB, (batch, length), generator=generator)
        target = torch.randint(4, TARGET_VOCAB, (batch, length + 1), generator=generator)
        lengths = torch.full((batch,), length)
        started = time.perf_counter()
        if mode == "logits":
            logits, _ = task(source, lengths, target[:, :-1], 0.5)
            loss = task.sequence_loss(logits, target[:, 1:])
            del logits
        else:
            loss = task.model.loss(source, lengths, target[:, :-1], target[:, 1:], 0.5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_rss_mb": peak, "s_per_step": statistics.median(times[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--length", type=int, default=40)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.batch, args.length, args.steps)))
        return
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for _ in range(args.repeats):
        for mode in MODES:
            command = [sys.executable, __file__, "--child", mode]
            command += ["--batch", str(args.batch), "--length", str(args.length)]
            command += ["--steps", str(args.steps)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results[mode].append(json.loads(output.strip().splitlines()[-1]))
    print(f"batch {args.batch}, {args.length} tokens each side, {args.repeats} repeats (medians)")
    print("| loss | peak RSS, MiB | s / step |")
    print("| --- | --- | --- |")
    for mode, runs in results.items():
        peak = statistics.median(r["peak_rss_mb"] for r in runs)
        step = statistics.median(r["s_per_step"] for r in runs)
        print(f"| {mode} | {peak:,.0f} | {step:.2f} |")


if __name__ == "__main__":
    main()
