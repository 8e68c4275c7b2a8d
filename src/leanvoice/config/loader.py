"""Build a validated `Config` from defaults, a preset YAML, a user YAML and `key=value` overrides.

Every unknown key is an error that names the key and lists the valid ones: a typo such as
`trian.lr=1` must never be silently ignored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from leanvoice.config.schema import CHECKPOINT_POLICY_PATTERN, Config
from leanvoice.errors import ConfigError

T = TypeVar("T")
PRESET_NAMES = ("timbre", "small", "scratch")


def preset_path(name: str) -> Path:
    """Path of a shipped preset YAML, or a ConfigError listing the presets."""
    if name not in PRESET_NAMES:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(PRESET_NAMES)}")
    return Path(str(resources.files("leanvoice.config") / "presets" / f"{name}.yaml"))


def load_config(
    preset: str | None = None,
    config_file: Path | None = None,
    overrides: typing.Sequence[str] = (),
) -> Config:
    """Defaults ← preset ← config file ← overrides, validated once."""
    merged: dict[str, Any] = {}
    if preset:
        merged = _deep_merge(merged, read_yaml(preset_path(preset)))
    if config_file:
        merged = _deep_merge(merged, read_yaml(Path(config_file)))
    for override in overrides:
        merged = _deep_merge(merged, parse_override(override))
    return build(Config, merged)


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections at the top level")
    return data


def parse_override(text: str) -> dict[str, Any]:
    """`memory.lora.rank=8` → {"memory": {"lora": {"rank": 8}}}; the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    nested: dict[str, Any] = {}
    cursor = nested
    parts = key.split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return nested


def build(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Construct dataclass `cls` from a nested dict, checking keys, types and choices."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            raise ConfigError(_unknown_key_message(prefix + str(key), key, sorted(fields)))
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, prefix + name)
    obj = cls(**kwargs)
    if cls is Config:
        validate(obj)  # type: ignore[arg-type]
    return obj


def validate(cfg: Config) -> None:
    """Checks that span several keys, done once, at start."""
    if not CHECKPOINT_POLICY_PATTERN.match(cfg.memory.checkpoint):
        raise ConfigError(
            f"memory.checkpoint={cfg.memory.checkpoint!r} is not a policy; use none, all, "
            "selective, every:K or count:N (within each block group), or group:policy "
            "pairs such as decoder:all,flow:every:2 (groups not named: none)"
        )
    positive = {
        "data.max_sec": cfg.data.max_sec,
        "data.max_tokens": cfg.data.max_tokens,
        "data.max_frames": cfg.data.max_frames,
        "train.grad_accum": cfg.train.grad_accum,
        "train.max_steps": cfg.train.max_steps,
        "train.lr_decay": cfg.train.lr_decay,
        "train.text_lr_factor": cfg.train.text_lr_factor,
        "train.lr": cfg.train.lr,
        "prepare.sample_rate": cfg.prepare.sample_rate,
        "prepare.workers": cfg.prepare.workers,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}={value} must be positive")
    if not 0 <= cfg.data.valid_fraction < 1:
        raise ConfigError(
            f"data.valid_fraction={cfg.data.valid_fraction} must be from 0 (none held out) "
            "to below 1"
        )
    for key in ("save_every", "audition_every", "eval_every", "warmup_steps"):
        if getattr(cfg.train, key) < 0:
            raise ConfigError(f"train.{key}={getattr(cfg.train, key)} must be 0 or positive")
    if cfg.train.decay_steps <= cfg.train.warmup_steps:
        raise ConfigError(
            f"train.decay_steps={cfg.train.decay_steps} must be above "
            f"train.warmup_steps={cfg.train.warmup_steps}"
        )
    unknown = sorted(set(cfg.memory.lora.stages) - {"gpt", "sovits"})
    if unknown:
        raise ConfigError(f"memory.lora.stages: unknown stage {unknown[0]!r}; use gpt and sovits")
    if cfg.memory.lora.rank < 0:
        raise ConfigError(f"memory.lora.rank={cfg.memory.lora.rank} must be 0 (off) or positive")
    if cfg.prepare.min_sec >= cfg.data.max_sec:
        raise ConfigError(
            f"prepare.min_sec={cfg.prepare.min_sec} must be below data.max_sec={cfg.data.max_sec}"
        )
    if cfg.memory.optimizer == "adamw_in_backward" and cfg.train.grad_accum > 1:
        raise ConfigError(
            "memory.optimizer=adamw_in_backward steps inside backward, so it cannot accumulate "
            "gradients: set train.grad_accum=1 or choose another memory.optimizer"
        )
    if cfg.train.grad_clip < 0:
        raise ConfigError(f"train.grad_clip={cfg.train.grad_clip} must be 0 (off) or positive")
    if cfg.memory.optimizer == "adamw_in_backward" and cfg.train.grad_clip > 0:
        raise ConfigError(
            "memory.optimizer=adamw_in_backward steps each weight before the global gradient "
            "norm is known, so it cannot clip it: set train.grad_clip=0 or choose another "
            "memory.optimizer"
        )


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (for YAML/JSON dumps and checkpoints)."""
    return dataclasses.asdict(cfg)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key + ".")  # type: ignore[arg-type]
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(
                f"{key}={value!r} is not allowed; choose one of: {', '.join(map(str, choices))}"
            )
        return value
    if origin in (list, tuple):
        (item_type,) = typing.get_args(hint)[:1]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}={value!r} must be a list")
        return [_coerce(item_type, item, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r} must be true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r} must be an integer")
    if hint is float:
        number = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is None:
            raise ConfigError(f"{key}={value!r} must be a number")
        if not math.isfinite(number):
            raise ConfigError(f"{key}={value!r} must be a finite number")
        return number
    if hint is str:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}={value!r} must be a string")
    return value


def _unknown_key_message(full_key: str, key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(str(key), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown config key {full_key!r}{hint}; valid keys here: {', '.join(valid)}"


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
