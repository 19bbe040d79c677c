"""The one exception tree of the program.

    AssistantError
    ├── ConfigError            invalid configuration; carries one line per problem
    ├── StateError             the state directory or database cannot be used
    ├── IntakeClosed           the router refuses new work (shutting down)
    ├── ChannelError
    │   ├── ChannelUnavailable     network trouble or 5xx: retry with backoff
    │   └── ChannelAuthError       credentials refused: stop this adapter, keep the rest
    ├── ModelError
    │   ├── NoModelConfigured      no [[models]] entry
    │   ├── ModelUnavailable       timeout, connection error, 429, 5xx, broken stream: fall back
    │   └── ModelRequestError      other 4xx: not retried, reported to the user
    ├── MemoryUnavailable      the memory store or its embedder cannot be used
    ├── ToolError              a tool failed in a way the model may read
    ├── PolicyDenied           the policy refused an action
    └── NotFound               an id or code given by a person does not exist (or expired)

Messages say what happened, where, and how to fix it. Foreign exceptions are translated once,
at the boundary where they occur, with ``raise X(...) from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence


class AssistantError(Exception):
    """Base class of every error the program raises on purpose."""


class ConfigError(AssistantError):
    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class StateError(AssistantError):
    pass


class IntakeClosed(AssistantError):
    pass


class ChannelError(AssistantError):
    pass


class ChannelUnavailable(ChannelError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the platform asked us to wait, if it did


class ChannelAuthError(ChannelError):
    pass


class ModelError(AssistantError):
    pass


class NoModelConfigured(ModelError):
    pass


class ModelUnavailable(ModelError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelRequestError(ModelError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MemoryUnavailable(AssistantError):
    pass


class ToolError(AssistantError):
    pass


class PolicyDenied(AssistantError):
    pass


class NotFound(AssistantError):
    pass
