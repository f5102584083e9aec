-- The selected product's stock movements, newest first (with no product selected: none).
-- source: shop
SELECT id, moved_at, kind, quantity, note
FROM stock_movements
WHERE product_id = :products.id
ORDER BY moved_at DESC
