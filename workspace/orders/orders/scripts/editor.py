"""The edit dialog: open it filled with the clicked order, check and save it, or close it.

Single cells are edited in the table itself (saved by Appyard with a conflict check); this dialog edits
several fields at once and explains what is wrong with a value before anything is written.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

import appyard

from ..context import Context
from ..state import State

STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")


def open_editor(state: State, context: Context) -> Context:
    """Open the dialog with the clicked order's values."""
    with appyard.db("orders") as connection:
        row = (
            connection.execute(
                text("SELECT id, quantity, status, ship_by, notes FROM orders WHERE id = :id"), {"id": state.orders.id}
            )
            .mappings()
            .first()
        )
    if row is None:
        context.orders.set_message(f"Order {state.orders.id} does not exist.", "error")
        return context
    fields = context.editor.components
    fields.quantity.value = row["quantity"]
    fields.status.value = row["status"]
    ship_by = row["ship_by"]
    fields.ship_by.value = dt.date.fromisoformat(ship_by) if isinstance(ship_by, str) and ship_by else ship_by or None
    fields.notes.value = row["notes"]
    context.editor.label = f"Edit order {row['id']}"
    context.editor.visible = True
    return context


def save_order(state: State, context: Context) -> Context:
    """Validate and save the dialog, then close it and reload the table."""
    form = state.editor
    if form.quantity is None or form.quantity < 1:
        context.editor.components.quantity.set_message("Enter a quantity of at least 1.", "error")
        return context
    if form.status not in STATUSES:
        context.editor.components.status.set_message("Choose a status.", "error")
        return context
    with appyard.db("orders") as connection:
        connection.execute(
            text(
                "UPDATE orders SET quantity = :quantity, status = :status, ship_by = :ship_by, notes = :notes "
                "WHERE id = :id"
            ),
            {
                "quantity": form.quantity,
                "status": form.status,
                "ship_by": form.ship_by.isoformat() if form.ship_by else None,
                "notes": form.notes or "",
                "id": state.orders.id,
            },
        )
    context.editor.visible = False
    context.orders.reload()
    context.orders.set_message(f"Order {state.orders.id} saved.", "success")
    return context


def close_editor(state: State, context: Context) -> Context:
    """Close the dialog without saving."""
    context.editor.visible = False
    return context
