-- Record a stock movement of the selected product; a trigger adds it to the product's stock.
-- source: shop
-- reload: movements, products
-- message: Movement recorded; the product's stock is updated.
INSERT INTO stock_movements (product_id, quantity, kind, note)
VALUES (:products.id, :movement.quantity, :movement.kind, COALESCE(:movement.note, ''))
