"""Reading reference lists: the items to label, each with a stable key."""

from refs.errors import RefsError
from refs.items import Box, Item, item_key, normalize_path

__all__ = ["Box", "Item", "RefsError", "item_key", "normalize_path"]
