"""`python -m rnnkit.draw` runs `rnnkit-draw`."""

from rnnkit.cli.draw import main

if __name__ == "__main__":
    main()
