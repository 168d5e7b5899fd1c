"""``python -m loadtest run|chaos|prepare …`` (see the package's docstring)."""

import sys

USAGE = "usage: python -m loadtest {run,chaos,prepare} [options]  (--help after one of them)"


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(USAGE)
        return 0 if len(sys.argv) >= 2 else 2
    command, argv = sys.argv[1], sys.argv[2:]
    if command == "run":
        from loadtest.run import main as run
    elif command == "chaos":
        from loadtest.chaos import main as run
    elif command == "prepare":
        from loadtest.prepare import main as run
    else:
        print(USAGE, file=sys.stderr)
        return 2
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
