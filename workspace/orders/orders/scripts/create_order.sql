-- Create a pending order from the New order form, placed now.
-- reload: orders
-- message: Order created.
INSERT INTO orders (customer_id, product, quantity, unit_price, status, placed_at)
VALUES (:new_order.customer, :new_order.product, :new_order.quantity, :new_order.unit_price, 'pending', CURRENT_TIMESTAMP)
