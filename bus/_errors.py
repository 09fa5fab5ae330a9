"""Errors of the bus, so that callers never import nats.errors.

BusError
 ├── BusUnavailable       no server answered (connect, publish or request timed out)
 ├── ConcurrencyError     the aggregate moved on since the expected sequence
 ├── ResultTimeout        a job's result did not come within the wait (also a TimeoutError)
 └── BrokerError          the embedded nats-server could not start
"""


class BusError(Exception):
    """Base of every error raised by zos.bus."""


class BusUnavailable(BusError):
    """The NATS server did not answer."""


class BrokerError(BusError):
    """The embedded broker failed to start or stop."""


class ConcurrencyError(BusError):
    """An append expected the aggregate at one sequence and found it at another."""

    def __init__(self, subject: str, expected: int, actual: int | None) -> None:
        self.subject = subject
        self.expected = expected
        self.actual = actual
        super().__init__(f"{subject}: expected last sequence {expected}, stream has "
                         f"{'unknown' if actual is None else actual}")


class ResultTimeout(BusError, TimeoutError):
    """No `job.finished` for the job within the wait."""

    def __init__(self, job_id: str, timeout: float) -> None:
        super().__init__(f"no result for job {job_id} after {timeout} s")
        self.job_id = job_id
        self.timeout = timeout
