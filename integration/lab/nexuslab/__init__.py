"""nexuslab: a multi-node NexusFS mesh in network namespaces (see docs/lab.md)."""


class LabError(Exception):
    """A failure labctl reports as `labctl: MESSAGE` with exit status 1."""


class UsageError(LabError):
    """Bad input, detected before anything is changed (exit status 64)."""
