class BaseSmsBackend:
    """Like Django's email backends: constructed with optional keyword
    settings (falling back to project settings), one job: send(to, body).
    `to` is already E.164; the return value is the provider's message id."""

    def __init__(self, fail_silently: bool = False, **kwargs):
        self.fail_silently = fail_silently

    def send(self, to: str, body: str) -> str:
        raise NotImplementedError
