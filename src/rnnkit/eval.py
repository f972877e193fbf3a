"""`python -m rnnkit.eval` runs `rnnkit-eval`."""

from rnnkit.cli.eval import main

if __name__ == "__main__":
    main()
