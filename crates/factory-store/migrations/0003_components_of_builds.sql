-- Every component that was ever queued has a row in `components`. The row used to be
-- inserted by a statement of its own after each queued build; a trigger does it inside the
-- build's insert, so queued builds can be projected many at a time. A replay of the log
-- inserts the builds again and so fills the rows the same way.
CREATE TRIGGER components_of_builds AFTER INSERT ON builds
BEGIN
    INSERT OR IGNORE INTO components (name) VALUES (NEW.component);
END;
