-- The orders sample's database: run once by Appyard when the SQLite file is created (the `seed` of the
-- workspace's `orders` data source). Types are declared so that tables learn them: DATETIME and DATE columns
-- come back as datetimes and dates, BOOLEAN as true/false.

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    city TEXT NOT NULL,
    vip BOOLEAN NOT NULL DEFAULT 0
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    product TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    placed_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ship_by DATE,
    notes TEXT NOT NULL DEFAULT ''
);

CREATE INDEX orders_placed_at ON orders (placed_at);
CREATE INDEX orders_customer ON orders (customer_id);

INSERT INTO customers (id, name, email, city, vip) VALUES
    (1, 'Ada Lovelace', 'ada@example.com', 'London', 1),
    (2, 'Grace Hopper', 'grace@example.com', 'New York', 1),
    (3, 'Alan Turing', 'alan@example.com', 'Manchester', 0),
    (4, 'Katherine Johnson', 'katherine@example.com', 'Hampton', 0),
    (5, 'Edsger Dijkstra', 'edsger@example.com', 'Eindhoven', 0),
    (6, 'Barbara Liskov', 'barbara@example.com', 'Boston', 1),
    (7, 'Donald Knuth', 'don@example.com', 'Stanford', 0),
    (8, 'Margaret Hamilton', 'margaret@example.com', 'Cambridge', 0);

INSERT INTO orders (id, customer_id, product, quantity, unit_price, status, placed_at, notes) VALUES
    (1001, 2, 'Dock', 2, 139.50, 'delivered', '2026-10-05 01:00:00', ''),
    (1002, 4, 'Keyboard', 3, 49.00, 'pending', '2026-10-21 02:00:00', ''),
    (1003, 4, 'Keyboard', 4, 49.00, 'pending', '2026-10-07 01:00:00', ''),
    (1004, 4, 'Webcam', 4, 64.00, 'cancelled', '2026-09-06 10:00:00', ''),
    (1005, 1, 'Chair', 1, 349.00, 'pending', '2026-10-20 14:45:00', ''),
    (1006, 3, 'Keyboard', 2, 49.00, 'delivered', '2026-09-26 02:45:00', ''),
    (1007, 2, 'Keyboard', 3, 49.00, 'delivered', '2026-10-19 04:15:00', ''),
    (1008, 2, 'Webcam', 2, 64.00, 'delivered', '2026-10-03 03:00:00', ''),
    (1009, 6, 'Keyboard', 2, 49.00, 'shipped', '2026-10-13 17:45:00', ''),
    (1010, 4, 'Webcam', 4, 64.00, 'pending', '2026-10-02 05:30:00', ''),
    (1011, 8, 'Chair', 2, 349.00, 'paid', '2026-09-08 08:30:00', ''),
    (1012, 2, 'Chair', 4, 349.00, 'delivered', '2026-09-25 22:00:00', ''),
    (1013, 3, 'Headset', 2, 89.90, 'shipped', '2026-11-04 23:30:00', ''),
    (1014, 6, 'Headset', 1, 89.90, 'paid', '2026-10-28 09:00:00', ''),
    (1015, 8, 'Chair', 3, 349.00, 'pending', '2026-10-22 02:45:00', ''),
    (1016, 2, 'Desk lamp', 1, 35.25, 'pending', '2026-09-24 09:45:00', ''),
    (1017, 5, 'Chair', 3, 349.00, 'cancelled', '2026-10-26 14:45:00', ''),
    (1018, 6, 'Headset', 3, 89.90, 'pending', '2026-09-03 07:45:00', ''),
    (1019, 4, 'Webcam', 1, 64.00, 'paid', '2026-10-13 12:00:00', ''),
    (1020, 8, 'Monitor', 2, 229.00, 'pending', '2026-10-05 07:45:00', ''),
    (1021, 3, 'Monitor', 4, 229.00, 'shipped', '2026-10-05 15:30:00', ''),
    (1022, 6, 'Desk lamp', 3, 35.25, 'cancelled', '2026-10-31 15:45:00', ''),
    (1023, 3, 'Headset', 2, 89.90, 'pending', '2026-09-14 06:00:00', ''),
    (1024, 3, 'Monitor', 2, 229.00, 'paid', '2026-09-02 09:45:00', ''),
    (1025, 6, 'Dock', 1, 139.50, 'delivered', '2026-09-13 19:45:00', ''),
    (1026, 8, 'Webcam', 3, 64.00, 'cancelled', '2026-09-12 02:00:00', ''),
    (1027, 7, 'Desk lamp', 4, 35.25, 'pending', '2026-10-05 08:45:00', ''),
    (1028, 2, 'Headset', 4, 89.90, 'pending', '2026-09-06 16:15:00', ''),
    (1029, 1, 'Headset', 2, 89.90, 'pending', '2026-09-10 18:30:00', ''),
    (1030, 6, 'Keyboard', 2, 49.00, 'delivered', '2026-10-17 03:00:00', ''),
    (1031, 7, 'Keyboard', 1, 49.00, 'pending', '2026-11-14 23:15:00', ''),
    (1032, 8, 'Chair', 3, 349.00, 'pending', '2026-10-01 00:30:00', ''),
    (1033, 8, 'Keyboard', 4, 49.00, 'paid', '2026-10-11 03:45:00', ''),
    (1034, 5, 'Keyboard', 2, 49.00, 'shipped', '2026-09-10 02:30:00', ''),
    (1035, 4, 'Desk lamp', 2, 35.25, 'delivered', '2026-10-15 10:00:00', ''),
    (1036, 5, 'Dock', 2, 139.50, 'cancelled', '2026-10-30 06:00:00', ''),
    (1037, 6, 'Desk lamp', 1, 35.25, 'pending', '2026-10-30 18:30:00', ''),
    (1038, 4, 'Dock', 2, 139.50, 'delivered', '2026-10-16 19:30:00', ''),
    (1039, 7, 'Desk lamp', 2, 35.25, 'cancelled', '2026-11-09 03:15:00', ''),
    (1040, 6, 'Desk lamp', 2, 35.25, 'cancelled', '2026-09-18 10:45:00', '');
