"""The G2 chunk pipeline (spec §8): convergent encryption of 512 KiB plaintext chunks.

    key = B2-128(P); C = snappy_raw(P); E = xxtea(C + pad + len word, key); id = B2-128(E)

XXTEA comes from the PyPI `xxtea` C extension used with `padding=False` on the length-word
buffer (verified byte-for-byte against the reference vectors, ~300 MB/s); its default PKCS#7
padding would be incompatible.
"""

from __future__ import annotations

import hashlib
import struct

import cramjam
import xxtea

from ._errors import ChunkCorruptError

CHUNK_SIZE = 512 * 1024


def b2_128(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def encode_chunk(plain: bytes) -> tuple[bytes, bytes, bytes]:
    """Plaintext -> (id, key, ciphertext)."""
    key = b2_128(plain)
    compressed = bytes(cramjam.snappy.compress_raw(plain))
    buf = compressed + b"\0" * (-len(compressed) % 4) + struct.pack("<I", len(compressed))
    cipher = xxtea.encrypt(buf, key, padding=False)
    return b2_128(cipher), key, cipher


def _decrypt(cipher: bytes, key: bytes, chunk_id: bytes) -> bytes:
    if len(cipher) < 8 or len(cipher) % 4:
        raise ChunkCorruptError(chunk_id, f"ciphertext length {len(cipher)} is not a multiple of 4 >= 8")
    buf = xxtea.decrypt(cipher, key, padding=False)
    length = struct.unpack_from("<I", buf, len(buf) - 4)[0]
    if not len(buf) - 7 <= length <= len(buf) - 4:
        raise ChunkCorruptError(chunk_id, f"length word {length} does not fit a {len(buf)}-byte buffer")
    return buf[:length]


def _decrypt_decompress(cipher: bytes, chunk_id: bytes, key: bytes) -> bytes:
    compressed = _decrypt(cipher, key, chunk_id)
    try:
        plain = bytes(cramjam.snappy.decompress_raw(compressed))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise ChunkCorruptError(chunk_id, f"snappy: {exc}") from None
    if b2_128(plain) != key:
        raise ChunkCorruptError(chunk_id, "plaintext hash differs from the key")
    return plain


def decode_chunk(cipher: bytes, chunk_id: bytes, key: bytes, verify_id: bool = True) -> bytes:
    """Ciphertext -> plaintext, checking `B2-128(E) == id` and `B2-128(P) == key`."""
    if len(key) == 64 and len(chunk_id) == 64:
        return decode_legacy_chunk(cipher, chunk_id, key, verify_id)
    if verify_id and b2_128(cipher) != chunk_id:
        raise ChunkCorruptError(chunk_id, "ciphertext hash differs from the id")
    try:
        return _decrypt_decompress(cipher, chunk_id, key)
    except ChunkCorruptError:
        # Early Aug 2018 writers cut binary keys at the first NUL (spec §13 #8).
        if b"\0" not in key:
            raise
        cut = key.index(b"\0")
        return _decrypt_decompress(cipher, chunk_id, key[:cut] + b"\0" * (len(key) - cut))


def decode_legacy_chunk(stored: bytes, chunk_id: bytes, key: bytes, verify_id: bool = True) -> bytes:
    """G0 blocks (spec §8.6): 16-byte header, ASCII sha256 hashes, key = 16 hex characters."""
    cipher = stored[16:]
    if verify_id and hashlib.sha256(cipher).hexdigest().encode() != chunk_id:
        raise ChunkCorruptError(chunk_id, "ciphertext sha256 differs from the id")
    compressed = _decrypt(cipher, key[:16], chunk_id)
    try:
        plain = bytes(cramjam.snappy.decompress_raw(compressed))
    except Exception as exc:
        raise ChunkCorruptError(chunk_id, f"snappy: {exc}") from None
    if hashlib.sha256(plain).hexdigest().encode() != key:
        raise ChunkCorruptError(chunk_id, "plaintext sha256 differs from the key")
    return plain
