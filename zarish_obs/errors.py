"""Exit codes and the one error type the CLI turns into a one-line message."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (sysexits.h values, so shell scripts can tell failures apart)."""

    OK = 0
    FAILED = 1  # some work items failed (e.g. one dashboard upload), the rest succeeded
    USAGE = 64
    DATAERR = 65  # bad catalog or other bad input data
    UNAVAILABLE = 69  # a server (Grafana, Prometheus) could not be reached
    SOFTWARE = 70  # internal error: a bug in zarish-obs
    CANTCREAT = 73  # an output file or directory could not be written


EXIT_CODES_HELP = (
    "Exit codes: 0 success, 1 partial failure, 64 usage error, 65 bad catalog/input, "
    "69 service unavailable, 70 internal error, 73 cannot create output."
)


class ZarishError(Exception):
    """An expected failure: printed as one line (or one line per problem), never as a traceback."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.SOFTWARE, lines: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.lines = lines or [message]


class CatalogError(ZarishError):
    """The catalog file is unreadable or invalid; one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__(problems[0] if problems else "invalid catalog", ExitCode.DATAERR, problems)
        self.problems = problems


class OutputError(ZarishError):
    def __init__(self, message: str):
        super().__init__(message, ExitCode.CANTCREAT)
