"""Errors of the events package.

EventError
 ├── DecodeError        bytes that are not an envelope (bad msgpack, missing keys, wrong types)
 └── ValidationError    an envelope whose data does not fit its declared type
      └── UnknownFieldError
"""


class EventError(Exception):
    """Base of every error raised by zos.events."""


class DecodeError(EventError):
    """A payload could not be decoded into an envelope."""


class ValidationError(EventError):
    """Event data does not match the declared fields of its type."""


class UnknownFieldError(ValidationError):
    """Event data carries a field its type does not declare."""
