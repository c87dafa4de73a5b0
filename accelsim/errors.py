"""The one exception type users see: a one-line message naming the file, field or record at fault."""


class InputError(ValueError):
    """Bad user input (config, trace, CLI argument); the CLI prints it on one line and exits 2."""

    def __init__(self, message: str, *, source: str | None = None):
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)
