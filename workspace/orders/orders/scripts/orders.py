"""The orders page's Python: the details panel and the customer choices of the New order form.

Listing, filtering, editing cells, shipping and creating orders are `.sql` files beside this one; Python is
used only where it adds something: composing the details text, and options that come from the database.
"""

from __future__ import annotations

from sqlalchemy import text

import appyard

from ..context import Context
from ..state import State


def customer_options(state: State, context: Context) -> Context:
    """Offer every customer by name (the value is the customer's id)."""
    with appyard.db("orders") as connection:
        rows = connection.execute(text("SELECT id, name FROM customers ORDER BY name")).all()
    context.new_order.components.customer.set_options([(row.id, row.name) for row in rows])
    return context


def show_order(state: State, context: Context) -> Context:
    """Describe the selected order in the details panel."""
    if state.orders.id is None:
        return context
    with appyard.db("orders") as connection:
        row = (
            connection.execute(
                text(
                    "SELECT o.*, c.name, c.email, c.city, c.vip FROM orders o JOIN customers c ON c.id = o.customer_id "
                    "WHERE o.id = :id"
                ),
                {"id": state.orders.id},
            )
            .mappings()
            .first()
        )
    if row is None:
        context.details.set_message(f"Order {state.orders.id} no longer exists.", "error")
        return context
    vip = " ⭐ VIP" if row["vip"] else ""
    total = row["quantity"] * row["unit_price"]
    context.details.components.summary.text = (
        f"### Order {row['id']}\n\n"
        f"**{row['name']}**{vip} · {row['email']} · {row['city']}\n\n"
        f"{row['quantity']} × {row['product']} at {row['unit_price']:.2f} = **{total:.2f}**\n\n"
        f"Status: `{row['status']}` · placed {str(row['placed_at']).replace('T', ' ')}"
        + (f" · ship by {row['ship_by']}" if row["ship_by"] else "")
        + (f"\n\n> {row['notes']}" if row["notes"] else "")
    )
    return context
