"""Command-line entry points (thin: parse options, call the library, report errors in one line)."""
