-- Every order with its customer's name and total, newest first. The table pages, sorts and filters this in
-- the database (its declared filters: customer, status, minimum total, placed after), and saves edits of
-- quantity, status and notes back to the orders table by primary key.
SELECT id,
       (SELECT name FROM customers WHERE customers.id = orders.customer_id) AS customer,
       product,
       quantity,
       ROUND(quantity * unit_price, 2) AS total,
       status,
       placed_at,
       notes
FROM orders
ORDER BY placed_at DESC
