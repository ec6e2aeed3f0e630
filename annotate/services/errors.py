"""Errors that services raise for callers to turn into 4xx answers."""


class ServiceError(Exception):
    """A request that cannot be carried out; ``code`` is stable, ``message`` is for people."""

    code = "invalid"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotYourLease(ServiceError):
    code = "not_your_lease"
    status = 403


class LeaseClosed(ServiceError):
    code = "lease_closed"
    status = 409


class InvalidChoice(ServiceError):
    code = "invalid_choice"
    status = 400


class InvalidText(ServiceError):
    """A free-text field (rationale, skip reason) that cannot be stored: too long, NUL, a lone surrogate."""

    code = "invalid_text"
    status = 400


class UndoRefused(ServiceError):
    """A judgment that can no longer be undone; ``code`` names why (``undo_*``)."""

    status = 409

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
