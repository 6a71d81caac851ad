-- Forge deliveries already taken (a projection of `webhook_received` events): a forge that
-- delivers the same push again, or twice at once, starts one change. The first event of a
-- delivery owns its row; a replay of the log fills it the same way.
CREATE TABLE webhook_deliveries (
    forge TEXT NOT NULL,
    delivery TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (forge, delivery)
);
