"""One error tree for everything a user can cause; the CLI prints it as one line and exits 1.

Each error says whether trying again can help (`transient`): a locked database can, a bad file cannot.
"""


class FundflowError(Exception):
    """An error a user can act on. The message is Chinese first, English after, on one line."""

    transient = False


class ConfigError(FundflowError):
    """Settings or environment are wrong (home folder, URLs, time zone)."""


class BadFileError(FundflowError):
    """A whole input file cannot be read: empty, binary, no header, malformed XML, …"""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class RulePackError(FundflowError):
    """The rule pack is invalid; `problems` lists every one as 'path: field: message'."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("规则包无效 / invalid rule pack:\n  " + "\n  ".join(self.problems))


class LifecycleError(FundflowError):
    """A lead move or ledger action that the procedure does not allow."""


class NotFoundError(FundflowError):
    """A lead, run, user or file that does not exist."""


class WarehouseBusyError(FundflowError):
    """Another process holds the DuckDB warehouse for writing; retrying later can help."""

    transient = True
