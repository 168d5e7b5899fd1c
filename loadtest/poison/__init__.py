"""A handler that always raises, for the fault suite's poison event (scenario 5)."""
