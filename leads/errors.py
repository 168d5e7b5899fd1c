from crm.errors import Conflict


class AlreadyConverted(Conflict):
    """This lead was already converted."""

    code = "already_converted"
