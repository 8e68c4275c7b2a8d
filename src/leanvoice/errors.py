"""User-facing errors: each names the file or key at fault and how to fix it."""


class LeanVoiceError(Exception):
    """Base class for errors the CLI prints in one line, without a traceback."""


class ConfigError(LeanVoiceError):
    """A config key, value or combination is invalid."""


class InputError(LeanVoiceError):
    """An input path or file cannot be used."""


class AudioError(LeanVoiceError):
    """An audio file is unreadable, empty, silent or otherwise unusable."""


class OutputError(LeanVoiceError):
    """A result cannot be written (disk full, over a size limit, read-only); what was
    written before is kept."""


class TextError(LeanVoiceError):
    """A transcript is empty, or its language is unsupported."""
