"""``python -m deblur``: the command-line interface."""

from deblur.cli import main

if __name__ == "__main__":
    main()
