from crm.errors import Conflict, DomainError


class AlreadyConverted(Conflict):
    """This lead was already converted."""

    code = "already_converted"


class PayloadTooLarge(DomainError):
    """The submission is larger than a capture form takes (``CAPTURE_MAX_BODY_BYTES``)."""

    code = "payload_too_large"
    status = 413
