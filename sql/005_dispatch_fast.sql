-- Dispatch decisions without serialised commits (SPEC §7: 1,000 orders/s).
--
-- NOTIFY takes a database-wide lock at commit and holds it until the commit record is flushed,
-- so every transaction that inserts into the outbox waits for the previous one's fsync: one
-- commit per disk flush, whatever the concurrency. A transaction may now ask the trigger to stay
-- quiet (set_config('anxin.outbox_quiet', 'on', true), its own transaction only); it must then
-- wake the relays itself after commit (dispatch/worker.py sends one NOTIFY, which writes no WAL,
-- for many decisions). Everything else notifies exactly as before.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('anxin.outbox_quiet', true), '') <> 'on' THEN
        PERFORM pg_notify('anxin_outbox', '');
    END IF;
    RETURN NULL;
END;
$$;
