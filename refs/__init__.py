"""Reading reference lists: the items to label, each with a stable key."""

from refs.errors import RefsError
from refs.items import Box, Item, item_key, normalize_path
from refs.read import read_refs, refs_format
from refs.reflist import RefList
from refs.source import BOX_FORMATS

__all__ = ["BOX_FORMATS", "Box", "Item", "RefList", "RefsError", "item_key", "normalize_path",
           "read_refs", "refs_format"]
