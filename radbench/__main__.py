"""`python -m radbench`: the same command-line interface as the `radbench` script."""

from radbench.cli import main_entry

if __name__ == "__main__":
    main_entry()
