"""Listing, inspecting and shipping orders."""

from __future__ import annotations

from typing import Any

from ... import db
from ..context import Context
from ..state import State

LIST_QUERY = """
SELECT o.id, c.name AS customer, o.product, o.quantity, ROUND(o.quantity * o.unit_price, 2) AS total,
       o.status, o.placed_at, o.notes
FROM orders o JOIN customers c ON c.id = o.customer_id
"""


def list_orders(state: State, context: Context) -> Context:
    """Fill the orders table from the filters (all of them optional)."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    filters = state.filters
    if filters.customer:
        conditions.append("(c.name LIKE :customer OR c.email LIKE :customer)")
        params["customer"] = f"%{filters.customer}%"
    if filters.status:
        names = [f":status{index}" for index in range(len(filters.status))]
        conditions.append(f"o.status IN ({', '.join(names)})")
        params.update({name[1:]: value for name, value in zip(names, filters.status, strict=True)})
    if filters.min_total is not None:
        conditions.append("o.quantity * o.unit_price >= :min_total")
        params["min_total"] = filters.min_total
    if filters.placed_after is not None:
        conditions.append("o.placed_at >= :placed_after")
        params["placed_after"] = filters.placed_after.isoformat()
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    with db.connect() as connection:
        rows = connection.execute(f"{LIST_QUERY} {where} ORDER BY o.placed_at DESC", params).fetchall()
    context.orders.set_data(rows)
    if not rows:
        context.orders.set_message("No orders match these filters.", "warning")
    else:
        context.orders.clear_message()
    return context


def show_order(state: State, context: Context) -> Context:
    """Describe the selected order in the details panel."""
    if state.orders.id is None:
        return context
    with db.connect() as connection:
        row = connection.execute(
            "SELECT o.*, c.name, c.email, c.city, c.vip FROM orders o JOIN customers c ON c.id = o.customer_id "
            "WHERE o.id = :id",
            {"id": state.orders.id},
        ).fetchone()
    if row is None:
        context.details.set_message(f"Order {state.orders.id} no longer exists.", "error")
        return context
    vip = " ⭐ VIP" if row["vip"] else ""
    context.details.components.summary.text = (
        f"### Order {row['id']}\n\n"
        f"**{row['name']}**{vip} · {row['email']} · {row['city']}\n\n"
        f"{row['quantity']} × {row['product']} at {row['unit_price']:.2f} = "
        f"**{row['quantity'] * row['unit_price']:.2f}**\n\n"
        f"Status: `{row['status']}` · placed {row['placed_at'].replace('T', ' ')}"
        + (f" · ship by {row['ship_by']}" if row["ship_by"] else "")
        + (f"\n\n> {row['notes']}" if row["notes"] else "")
    )
    return context


def ship_order(state: State, context: Context) -> Context:
    """Mark the clicked order as shipped, unless it is already past that."""
    order_id = state.orders.id
    with db.connect() as connection:
        row = connection.execute("SELECT status FROM orders WHERE id = :id", {"id": order_id}).fetchone()
        if row is None:
            context.orders.set_message(f"Order {order_id} does not exist.", "error")
            return context
        if row["status"] in ("shipped", "delivered", "cancelled"):
            context.orders.set_message(f"Order {order_id} is {row['status']}; it cannot be shipped.", "error")
            return context
        connection.execute("UPDATE orders SET status = 'shipped' WHERE id = :id", {"id": order_id})
    list_orders(state, context)
    context.orders.set_message(f"Order {order_id} shipped.", "success")
    return context


def save_notes(state: State, context: Context) -> Context:
    """Save notes edited in the table."""
    with db.connect() as connection:
        updated = connection.execute(
            "UPDATE orders SET notes = :notes WHERE id = :id",
            {"notes": state.orders.notes or "", "id": state.orders.id},
        ).rowcount
    if updated:
        context.orders.set_message(f"Notes of order {state.orders.id} saved.", "success")
    else:
        context.orders.set_message(f"Order {state.orders.id} does not exist.", "error")
    return context
