"""The products page's one Python function: selecting a product reloads its movements.

Everything else on this page is SQL (`list_products.sql`, `list_movements.sql`, `record_movement.sql`) or
done by Appyard itself (paging, sorting, filtering and saving edits of the products table).
"""

from __future__ import annotations

from ..context import Context
from ..state import State


def show_product(state: State, context: Context) -> Context:
    """Show the selected product's movements (the movements table's SQL fetcher reads `:products.id`)."""
    context.movements.reload()
    if state.products.name:
        context.movements.label = f"Stock movements of {state.products.name}"
    return context
