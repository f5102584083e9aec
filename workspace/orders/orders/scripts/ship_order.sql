-- Mark the clicked order as shipped: only a pending or paid order can be.
-- reload: orders
-- message: Order shipped (unless it was shipped, delivered or cancelled already).
UPDATE orders
SET status = 'shipped'
WHERE id = :orders.id
  AND status IN ('pending', 'paid')
