"""What the network builtins tell the log they changed (declared in `zos.events`'s catalog,
module `network`): one id scheme for every aggregate, the node and namespace in every event.

An object of a node's network is named by node, namespace (when the builtin got one) and
name; the aggregate id joins them with `-` and the event data keeps them apart, so a fold
never parses an id.
"""

from __future__ import annotations

from typing import Any

from ._registry import Context


def scoped_id(node: str, namespace: str | None, name: str) -> str:
    """`<node>-<name>`, or `<node>-<namespace>-<name>` inside a network namespace."""
    return "-".join([node, *([namespace] if namespace else []), name])


def _data(ctx: Context, namespace: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    where: dict[str, Any] = {"node": ctx.node_id}
    if namespace:
        where["namespace"] = namespace
    return {**where, **{key: value for key, value in fields.items() if value is not None}}


def bridge_changed(ctx: Context, type: str, namespace: str | None, name: str, **fields: Any) -> None:
    """A `bridge.*` event of the managed bridge `name`."""
    ctx.emit(type, "bridge", scoped_id(ctx.node_id, namespace, name),
             _data(ctx, namespace, {"name": name, **fields}))


def nic_changed(ctx: Context, type: str, namespace: str | None, name: str, **fields: Any) -> None:
    """A `nic.*` event of the interface `name`."""
    ctx.emit(type, "nic", scoped_id(ctx.node_id, namespace, name),
             _data(ctx, namespace, {"name": name, **fields}))


def port_changed(ctx: Context, type: str, namespace: str | None, port: int, **fields: Any) -> None:
    """An `nft.*` event of the TCP `port`."""
    ctx.emit(type, "nft", scoped_id(ctx.node_id, namespace, str(port)),
             _data(ctx, namespace, {"port": port, **fields}))
