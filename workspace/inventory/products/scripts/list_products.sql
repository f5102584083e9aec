-- Every product. The table pages, sorts and filters this query in the database (never all 100,000 rows at
-- once), and saves edits, inserts and deletes to the products table by its primary key.
-- source: shop
SELECT id, sku, name, category, price, stock, reorder_level, active, updated_at
FROM products
