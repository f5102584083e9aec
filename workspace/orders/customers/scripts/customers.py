"""Browsing, flagging and adding customers, in Python over the `orders` data source (`appyard.db`).

This page shows the Python way beside the orders page's SQL way: a grouped query with optional filters,
a save on edit, and an insert that turns a duplicate email into a message on the field.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import appyard

from ..context import Context
from ..state import State

LIST_QUERY = text(
    """
    SELECT c.id, c.name, c.email, c.city, c.vip, COUNT(o.id) AS orders,
           ROUND(COALESCE(SUM(o.quantity * o.unit_price), 0), 2) AS spent, MAX(DATE(o.placed_at)) AS last_order
    FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.status != 'cancelled'
    WHERE (:city IS NULL OR c.city = :city) AND (:vip_only = 0 OR c.vip = 1)
    GROUP BY c.id ORDER BY spent DESC
    """
)


def city_options(state: State, context: Context) -> Context:
    """Offer every city that has customers."""
    with appyard.db("orders") as connection:
        cities = list(connection.execute(text("SELECT DISTINCT city FROM customers ORDER BY city")).scalars())
    context.search.components.city.set_options(cities)
    return context


def list_customers(state: State, context: Context) -> Context:
    """Customers with their order count, spend and last order date."""
    params = {"city": state.search.city, "vip_only": int(bool(state.search.vip_only))}
    with appyard.db("orders") as connection:
        rows = [dict(row) | {"vip": bool(row["vip"])} for row in connection.execute(LIST_QUERY, params).mappings()]
    context.customers.data = rows
    return context


def save_vip(state: State, context: Context) -> Context:
    """Save the VIP flag edited in the table."""
    customer = state.customers
    with appyard.db("orders") as connection:
        connection.execute(
            text("UPDATE customers SET vip = :vip WHERE id = :id"), {"vip": int(bool(customer.vip)), "id": customer.id}
        )
    flag = "now" if customer.vip else "no longer"
    context.customers.set_message(f"{customer.name} is {flag} a VIP.", "success")
    return context


def add_customer(state: State, context: Context) -> Context:
    """Add a customer from the form, refusing a duplicate email."""
    form = state.new_customer
    fields = context.new_customer.components
    if not form.email or "@" not in form.email:
        fields.email.set_message("Enter an email address.", "error")
        return context
    try:
        with appyard.db("orders") as connection:
            connection.execute(
                text("INSERT INTO customers (name, email, city, vip) VALUES (:name, :email, :city, :vip)"),
                {"name": form.name, "email": form.email, "city": form.city, "vip": int(form.vip or False)},
            )
    except IntegrityError:
        fields.email.set_message(f"A customer with {form.email} exists already.", "error")
        return context
    for field in (fields.name, fields.email, fields.city):
        field.value = ""
    fields.vip.value = False
    context.new_customer.set_message(f"{form.name} added.", "success")
    list_customers(state, context)
    city_options(state, context)
    return context
