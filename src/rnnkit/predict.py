"""`python -m rnnkit.predict` runs `rnnkit-predict`."""

from rnnkit.cli.predict import main

if __name__ == "__main__":
    main()
