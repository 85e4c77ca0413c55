-- Settlement (SPEC §5.4, issue 7 part 4): operator-approved extra minutes on an order, and the
-- closed settlement months. A closed month takes no more ledger rows: a late debit or a
-- correction is booked to the next open month instead (callcenter/subsidy.py), and the trigger
-- below makes sure nothing slips in by another path.

-- An operator approved more than the item's standard duration for this order (the reason and who
-- are in the order's event row and the audit log). The check-out's debit caps at this instead.
ALTER TABLE orders ADD COLUMN approved_minutes integer
    CHECK (approved_minutes IS NULL OR approved_minutes BETWEEN 1 AND 1440);

CREATE TABLE settlement_months (
    month           date PRIMARY KEY CHECK (extract(day FROM month) = 1),  -- Asia/Shanghai month
    closed_by       bigint REFERENCES users (id),
    closed_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A closed month stays closed.
CREATE TRIGGER settlement_months_append_only BEFORE UPDATE OR DELETE ON settlement_months
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER settlement_months_no_truncate BEFORE TRUNCATE ON settlement_months
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

CREATE FUNCTION subsidy_ledger_month_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM settlement_months WHERE month = NEW.month) THEN
        RAISE EXCEPTION 'settlement month % is closed', to_char(NEW.month, 'YYYY-MM')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'subsidy_ledger_month_open';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER subsidy_ledger_month_open BEFORE INSERT ON subsidy_ledger
    FOR EACH ROW EXECUTE FUNCTION subsidy_ledger_month_open();

-- The statements read a provider's completed orders of a month.
CREATE INDEX orders_provider_checked_out_idx ON orders (provider_id, checked_out_at)
    WHERE checked_out_at IS NOT NULL;
CREATE INDEX subsidy_ledger_month_idx ON subsidy_ledger (month) WHERE kind = 'debit';
