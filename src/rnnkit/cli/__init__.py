"""Command-line entry points: rnnkit-train, rnnkit-eval, rnnkit-predict."""
