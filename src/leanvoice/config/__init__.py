"""Config schemas, shipped presets and model sizes, and `key=value` overrides."""

from leanvoice.config.loader import PRESET_NAMES, load_config, parse_override, to_dict
from leanvoice.config.schema import Config

__all__ = ["PRESET_NAMES", "Config", "load_config", "parse_override", "to_dict"]
