"""The bridge's public surface is exactly its `__all__` (STYLE §3)."""

import zos.node.bridge as bridge


def test_all_is_sorted_and_names_every_public_definition():
    assert bridge.__all__ == sorted(bridge.__all__)
    # The bridge's error classes live in the agent's one error tree (zos.node._errors).
    defined = {name for name, value in vars(bridge).items()
               if not name.startswith("_") and getattr(value, "__module__", "").startswith(("zos.node.bridge", "zos.node._errors"))}
    assert defined == {name for name in bridge.__all__ if not name.isupper()}
    assert all(hasattr(bridge, name) for name in bridge.__all__)
