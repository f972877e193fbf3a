"""`python -m rnnkit.train` runs `rnnkit-train`."""

from rnnkit.cli.train import main

if __name__ == "__main__":
    main()
