class SmsError(Exception):
    """The SMS was not sent."""


class InvalidPhoneNumber(SmsError, ValueError):
    pass


class SmsRateLimited(SmsError):
    """Too many messages to this number lately; not sent."""


class SmsTemporaryError(SmsError):
    """The provider could not take it now (5xx, 429, no connection), retries used up."""


class SmsPermanentError(SmsError):
    """The provider refused it (bad number, bad account...): retrying will not help."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
