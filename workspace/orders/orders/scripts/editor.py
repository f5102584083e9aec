"""The edit dialog: open it filled with the clicked order, save it, or close it."""

from __future__ import annotations

import datetime as dt

from ... import db
from ..context import Context
from ..state import State
from .orders import list_orders


def open_editor(state: State, context: Context) -> Context:
    """Open the dialog with the clicked order's values."""
    with db.connect() as connection:
        row = connection.execute("SELECT * FROM orders WHERE id = :id", {"id": state.orders.id}).fetchone()
    if row is None:
        context.orders.set_message(f"Order {state.orders.id} does not exist.", "error")
        return context
    fields = context.editor.components
    fields.quantity.value = row["quantity"]
    fields.status.value = row["status"]
    fields.ship_by.value = dt.date.fromisoformat(row["ship_by"]) if row["ship_by"] else None
    fields.notes.value = row["notes"]
    context.editor.label = f"Edit order {row['id']}"
    context.editor.visible = True
    return context


def save_order(state: State, context: Context) -> Context:
    """Validate and save the dialog, then close it and refresh the table."""
    form = state.editor
    if form.quantity is None or form.quantity < 1:
        context.editor.components.quantity.set_message("Enter a quantity of at least 1.", "error")
        return context
    if form.status not in db.STATUSES:
        context.editor.components.status.set_message("Choose a status.", "error")
        return context
    with db.connect() as connection:
        connection.execute(
            "UPDATE orders SET quantity = :quantity, status = :status, ship_by = :ship_by, notes = :notes "
            "WHERE id = :id",
            {
                "quantity": form.quantity,
                "status": form.status,
                "ship_by": form.ship_by.isoformat() if form.ship_by else None,
                "notes": form.notes or "",
                "id": state.orders.id,
            },
        )
    context.editor.visible = False
    list_orders(state, context)
    context.orders.set_message(f"Order {state.orders.id} saved.", "success")
    return context


def close_editor(state: State, context: Context) -> Context:
    """Close the dialog without saving."""
    context.editor.visible = False
    return context
