"""Domain errors with a stable code. Mapped in one place (``crm.rest``) to the SPEC §7 shape;
HTMX views catch the same exceptions and show the message."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str = "", *, details: dict | None = None, code: str | None = None):
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.details = details or {}
        if code:
            self.code = code


class ValidationFailed(DomainError):
    """The input is not valid."""

    code = "validation_error"
    status = 400


class NotAuthenticated(DomainError):
    """Sign in first."""

    code = "not_authenticated"
    status = 401


class NotFound(DomainError):
    """Not found."""

    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    """You do not have permission to do this."""

    code = "permission_denied"
    status = 403


class Conflict(DomainError):
    """The record is not in a state that allows this."""

    code = "conflict"
    status = 409
