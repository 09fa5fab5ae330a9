"""Mandatory vectors of the spec (§5.1, §5.3, §8.4, §3.4) and the independent reference
procedure: our chunks decrypt with a pure-Python XXTEA written from the spec's description."""

from __future__ import annotations

import hashlib
import random
import struct

import cramjam
import pytest
from hypothesis import given, settings, strategies as st

from zos.fs import (LEGACY_ROOT_KEY, ChunkCorruptError, aclkey, decode_chunk, dirkey, encode_chunk)
from zos.fs.flist import RAW_SCHEMA_PATH, SCHEMA_PATH, acl_text

DELTA = 0x9E3779B9


def ref_xxtea_decrypt(data: bytes, key: bytes) -> bytes:
    """Corrected block TEA, decrypt, from the spec's §8.3 text (independent of the `xxtea` package)."""
    v = list(struct.unpack(f"<{len(data) // 4}I", data))
    k = struct.unpack("<4I", key)
    n = len(v)
    rounds = 6 + 52 // n
    total = (rounds * DELTA) & 0xFFFFFFFF
    y = v[0]
    while rounds:
        e = (total >> 2) & 3
        for p in range(n - 1, -1, -1):
            z = v[p - 1] if p > 0 else v[n - 1]
            mx = (((z >> 5) ^ (y << 2)) + ((y >> 3) ^ (z << 4))) ^ ((total ^ y) + (k[(p & 3) ^ e] ^ z))
            v[p] = (v[p] - mx) & 0xFFFFFFFF
            y = v[p]
        total = (total - DELTA) & 0xFFFFFFFF
        rounds -= 1
    return struct.pack(f"<{n}I", *v)


def reference_decode(cipher: bytes, chunk_id: bytes, key: bytes) -> bytes:
    assert hashlib.blake2b(cipher, digest_size=16).digest() == chunk_id
    buf = ref_xxtea_decrypt(cipher, key)
    length = struct.unpack("<I", buf[-4:])[0]
    assert len(buf) - 7 <= length <= len(buf) - 4
    plain = bytes(cramjam.snappy.decompress_raw(buf[:length]))
    assert hashlib.blake2b(plain, digest_size=16).digest() == key
    return plain


def test_directory_keys() -> None:
    assert dirkey(b"") == "cae66941d9efbd404e4d88758ea67670"
    assert dirkey(b"bin") == "9385d23818077a26310b147ebd80bb7b"
    assert LEGACY_ROOT_KEY == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"


def test_acl_keys() -> None:
    assert aclkey("root", "root", 0o755, 0, 0) == "d7683de000c13689"
    # the 2021 buggy text, for understanding only: mode rendered as "5"
    assert hashlib.blake2b(b"user:root\ngroup:root\nmode:5\nuid:0\ngid:0", digest_size=8).hexdigest() \
        == "1eee8b016c47ed55"
    assert acl_text("a", "b", 0o104755, 1, 2) == "user:a\ngroup:b\nmode:0o4755\nuid:1\ngid:2"


@pytest.mark.parametrize("plain, key, compressed, cipher, chunk_id", [
    (b"hello world\n", "c0cdb4699cdaa9eea4c563a934f1d52b", "0c2c68656c6c6f20776f726c640a",
     "893f00077aad00982c3024bda3cbe527b9e1ecb0", "a5147f6e7cac3a7076f942cb5e00d896"),
    (b"A", "f96658555f24a7608e17d9d14603e79c", None, "25cae844e82dcdf7", "ce632548a78b6d206e5478fbd92ea7ec"),
])
def test_chunk_vectors(plain: bytes, key: str, compressed: str | None, cipher: str, chunk_id: str) -> None:
    got_id, got_key, got_cipher = encode_chunk(plain)
    assert (got_id.hex(), got_key.hex(), got_cipher.hex()) == (chunk_id, key, cipher)
    if compressed:
        assert bytes(cramjam.snappy.compress_raw(plain)).hex() == compressed
    assert decode_chunk(got_cipher, got_id, got_key) == plain
    assert reference_decode(bytes.fromhex(cipher), bytes.fromhex(chunk_id), bytes.fromhex(key)) == plain


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=5000))
def test_our_chunks_decode_with_the_reference_procedure(plain: bytes) -> None:
    chunk_id, key, cipher = encode_chunk(plain)
    assert reference_decode(cipher, chunk_id, key) == plain


def test_large_chunk_reference() -> None:
    plain = random.Random(512).randbytes(512 * 1024)
    chunk_id, key, cipher = encode_chunk(plain)
    assert reference_decode(cipher, chunk_id, key) == plain


def test_corrupt_chunks_are_refused() -> None:
    chunk_id, key, cipher = encode_chunk(b"some content " * 100)
    flipped = bytes([cipher[0] ^ 1]) + cipher[1:]
    with pytest.raises(ChunkCorruptError, match="ciphertext hash"):
        decode_chunk(flipped, chunk_id, key)
    with pytest.raises(ChunkCorruptError):  # id check off: the key check still catches it
        decode_chunk(flipped, chunk_id, key, verify_id=False)
    with pytest.raises(ChunkCorruptError):  # wrong key
        decode_chunk(cipher, chunk_id, bytes(16))
    with pytest.raises(ChunkCorruptError, match="length"):
        decode_chunk(cipher[:5], hashlib.blake2b(cipher[:5], digest_size=16).digest(), key)


def test_bad_length_word_is_refused() -> None:
    import xxtea
    # No NUL byte: a key with one is retried cut at the NUL (early-2018 writers, spec §13 #8)
    # and fails with another message.
    key = bytes(range(1, 17))
    buf = b"abcdefgh" + struct.pack("<I", 99)  # length word larger than the buffer
    cipher = xxtea.encrypt(buf, key, padding=False)
    with pytest.raises(ChunkCorruptError, match="length word 99"):
        decode_chunk(cipher, hashlib.blake2b(cipher, digest_size=16).digest(), key)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.binary(min_size=16, max_size=16))
def test_random_ciphertext_never_crashes(cipher: bytes, key: bytes) -> None:
    with pytest.raises(ChunkCorruptError):
        decode_chunk(cipher, hashlib.blake2b(cipher, digest_size=16).digest(), key)


def test_raw_schema_is_the_exact_schema_with_data_for_text() -> None:
    exact = SCHEMA_PATH.read_text().splitlines()
    raw = RAW_SCHEMA_PATH.read_text().splitlines()
    assert exact[0] == "@0xae9223e76351538a;"
    derived = [line.replace(": Text;", ": Data;").replace(":Text;", ":Data;") for line in exact[1:]]
    assert raw[3:] == derived
