-- Subsidised hours (SPEC §5.4, issue 7 part 3): the government-purchased home-care programmes,
-- which elders are eligible for which programme, and the append-only ledger of minutes used.

CREATE TABLE subsidy_programmes (
    code            text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,19}$'),
    name_zh         text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 40),
    name_en         text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 80),
    hours_per_month numeric(5, 1) NOT NULL CHECK (hours_per_month > 0 AND hours_per_month <= 744),
    hourly_rate_cents integer NOT NULL CHECK (hourly_rate_cents BETWEEN 0 AND 1000000),
    effective_from  date NOT NULL,
    effective_to    date,
    CHECK (effective_to IS NULL OR effective_to >= effective_from)
);

-- Weihai: 低保, 特困, 优抚 and special family-planning families get 30–60 hours a month.
INSERT INTO subsidy_programmes (code, name_zh, name_en, hours_per_month, hourly_rate_cents,
                                effective_from) VALUES
    ('dibao', '低保老人居家服务', 'Minimum-living-allowance elders', 30, 2500, '2020-01-01'),
    ('tekun', '特困供养老人居家服务', 'Extremely poor (特困) elders', 60, 2500, '2020-01-01'),
    ('youfu', '重点优抚对象居家服务', 'Key entitled groups (优抚)', 40, 2800, '2020-01-01'),
    ('jisheng', '计生特扶家庭居家服务', 'Special family-planning families', 30, 2500,
     '2020-01-01'),
    ('shineng', '失能老人居家照护', 'Disabled elders (失能) home care', 40, 3000, '2020-01-01');

CREATE TABLE subsidy_eligibility (
    id              bigserial PRIMARY KEY,
    elder_id        bigint NOT NULL REFERENCES elders (id),
    programme_code  text NOT NULL REFERENCES subsidy_programmes (code),
    starts_on       date NOT NULL,
    ends_on         date,
    approved_region_code text NOT NULL REFERENCES regions (code),
    approved_by     bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_on IS NULL OR ends_on >= starts_on)
);
CREATE INDEX subsidy_eligibility_elder_idx ON subsidy_eligibility (elder_id, starts_on);

-- One row per debit (a completed order's checked minutes) or correction (positive or negative,
-- always with a reason). Never updated or deleted: a mistake is corrected by a new row.
CREATE TABLE subsidy_ledger (
    id              bigserial PRIMARY KEY,
    elder_id        bigint NOT NULL REFERENCES elders (id),
    order_id        bigint REFERENCES orders (id),
    programme_code  text NOT NULL REFERENCES subsidy_programmes (code),
    month           date NOT NULL CHECK (extract(day FROM month) = 1),  -- Asia/Shanghai month
    kind            text NOT NULL CHECK (kind IN ('debit', 'correction')),
    minutes         integer NOT NULL CHECK (minutes <> 0 OR kind = 'debit'),
    subsidised_minutes integer NOT NULL,
    self_paid_minutes integer NOT NULL CHECK (self_paid_minutes >= 0),
    rate_cents      integer NOT NULL CHECK (rate_cents >= 0),
    amount_cents    integer NOT NULL,
    reason          text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    created_by      bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (subsidised_minutes + self_paid_minutes = minutes),
    CHECK (kind <> 'debit' OR (order_id IS NOT NULL AND minutes >= 0
                               AND subsidised_minutes >= 0)),
    CHECK (kind <> 'correction' OR (length(btrim(reason)) > 0 AND self_paid_minutes = 0))
);
CREATE UNIQUE INDEX subsidy_ledger_one_debit ON subsidy_ledger (order_id) WHERE kind = 'debit';
CREATE INDEX subsidy_ledger_elder_month_idx ON subsidy_ledger (elder_id, month);

CREATE TRIGGER subsidy_ledger_append_only BEFORE UPDATE OR DELETE ON subsidy_ledger
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER subsidy_ledger_no_truncate BEFORE TRUNCATE ON subsidy_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
