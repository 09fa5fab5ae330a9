"""Chunk stores: ciphertext chunks by 16-byte id behind one interface (`ChunkStore`).

    store = open_store("redis://127.0.0.1:6379")      # or zdb://, http://hub, file:///dir
    data = fetch_chunk([store, default_store(data_dir)], block_id, block_key)   # verified plaintext

`default_store(data_dir)` is the embedded store under the zos data directory (`DATA/chunks`).
"""

from ._base import ChunkStore
from ._codec import CHUNK_SIZE, b2_128, decode_chunk, decode_legacy_chunk, encode_chunk
from ._dir import DirStore
from ._errors import (ChunkCorruptError, ChunkError, ChunkMissingError, StoreError,
                      StoreUnavailableError, StoreURLError)
from ._fetch import ChunkUploader, fetch_chunk
from ._http import HttpStore
from ._open import backend_url, default_store, default_store_path, open_store
from ._redis import RedisStore

__all__ = [
    "CHUNK_SIZE",
    "ChunkCorruptError",
    "ChunkError",
    "ChunkMissingError",
    "ChunkStore",
    "ChunkUploader",
    "DirStore",
    "HttpStore",
    "RedisStore",
    "StoreError",
    "StoreURLError",
    "StoreUnavailableError",
    "b2_128",
    "backend_url",
    "decode_chunk",
    "decode_legacy_chunk",
    "default_store",
    "default_store_path",
    "encode_chunk",
    "fetch_chunk",
    "open_store",
]
