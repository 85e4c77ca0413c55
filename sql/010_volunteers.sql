-- Volunteers and the time bank (issue 7 part 7; Weihai/Wendeng's 睦邻互助积分 points model):
-- volunteers registered in a community log the help they give elders; points accrue per hour at
-- a rate set per kind of activity; points are redeemed later (for services for the volunteer or
-- their family). Both logs are append-only; a mistake is corrected by a new row.

-- The kinds of help and their rate (points per hour). Change a rate with an UPDATE here: a log
-- keeps the rate it was booked at, so history never changes. Rongcheng gives volunteers at its
-- 暖心食堂 (meal tables) double points, hence meals at 2 per hour.
CREATE TABLE volunteer_activities (
    code            text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,19}$'),
    name_zh         text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 20),
    name_en         text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 40),
    points_per_hour numeric(4, 2) NOT NULL CHECK (points_per_hour > 0 AND points_per_hour <= 10),
    sort_order      smallint NOT NULL DEFAULT 0,
    active          boolean NOT NULL DEFAULT true
);
INSERT INTO volunteer_activities (code, name_zh, name_en, points_per_hour, sort_order) VALUES
    ('meal', '助餐送餐', 'Meals delivered', 2, 1),
    ('visit', '上门探访', 'Home visit', 1, 2),
    ('company', '陪伴聊天', 'Companionship', 1, 3),
    ('shopping', '代购代办', 'Shopping and errands', 1, 4),
    ('haircut', '理发', 'Haircut', 1, 5),
    ('cleaning', '打扫卫生', 'Cleaning', 1, 6),
    ('escort', '陪同就医', 'Escort to the doctor', 1.5, 7),
    ('other', '其他互助', 'Other help', 1, 8);

CREATE TABLE volunteers (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    phone           text NOT NULL CHECK (phone ~ '^\+86[0-9]{6,13}$'),   -- E.164, normalised
    id_number       char(18) UNIQUE CHECK (id_number ~ '^[0-9]{17}[0-9X]$'),  -- optional
    region_code     text NOT NULL REFERENCES regions (code),              -- a community or village
    activities      text[] NOT NULL DEFAULT '{}' CHECK (cardinality(activities) <= 10),
    active          boolean NOT NULL DEFAULT true,
    joined_on       date NOT NULL,
    created_by      bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX volunteers_phone_key ON volunteers (phone);
CREATE INDEX volunteers_region_idx ON volunteers (region_code);

-- One row per stretch of help given. Points are worked out when the row is written (at the
-- activity's rate then) and stored, so a later change of rate never rewrites history.
CREATE TABLE volunteer_hours (
    id              bigserial PRIMARY KEY,
    volunteer_id    bigint NOT NULL REFERENCES volunteers (id),
    elder_id        bigint REFERENCES elders (id),
    activity_code   text NOT NULL REFERENCES volunteer_activities (code),
    started_at      timestamptz NOT NULL,
    minutes         integer NOT NULL CHECK (minutes BETWEEN 1 AND 720),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    points_per_hour numeric(4, 2) NOT NULL CHECK (points_per_hour > 0),
    points          numeric(8, 1) NOT NULL CHECK (points >= 0),
    recorded_by     bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX volunteer_hours_volunteer_idx ON volunteer_hours (volunteer_id, started_at);
CREATE INDEX volunteer_hours_started_idx ON volunteer_hours (started_at);

-- The time bank: an 'earn' row per logged stretch, a 'redeem' row (negative, with a reason) per
-- redemption. balance = sum(points); balance_after is set by the trigger below, which locks the
-- volunteer's row first, so two redemptions at once are serialised and the CHECK refuses any
-- row that would take the balance below zero.
CREATE TABLE time_bank_ledger (
    id              bigserial PRIMARY KEY,
    volunteer_id    bigint NOT NULL REFERENCES volunteers (id),
    kind            text NOT NULL CHECK (kind IN ('earn', 'redeem')),
    hours_id        bigint REFERENCES volunteer_hours (id),
    points          numeric(10, 1) NOT NULL,
    balance_after   numeric(12, 1) NOT NULL CHECK (balance_after >= 0),
    reason          text NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
    created_by      bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (kind <> 'earn' OR (hours_id IS NOT NULL AND points >= 0)),
    CHECK (kind <> 'redeem' OR (hours_id IS NULL AND points < 0
                                AND length(btrim(reason)) > 0))
);
CREATE UNIQUE INDEX time_bank_ledger_one_earn ON time_bank_ledger (hours_id)
    WHERE kind = 'earn';
CREATE INDEX time_bank_ledger_volunteer_idx ON time_bank_ledger (volunteer_id, id);
CREATE INDEX time_bank_ledger_created_idx ON time_bank_ledger (created_at);

CREATE FUNCTION time_bank_balance_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the volunteer's row lock serialises every write to their account, whoever writes it
    PERFORM 1 FROM volunteers WHERE id = NEW.volunteer_id FOR NO KEY UPDATE;
    NEW.balance_after := coalesce((SELECT sum(points) FROM time_bank_ledger
                                   WHERE volunteer_id = NEW.volunteer_id), 0) + NEW.points;
    RETURN NEW;
END;
$$;
CREATE TRIGGER time_bank_ledger_balance BEFORE INSERT ON time_bank_ledger
    FOR EACH ROW EXECUTE FUNCTION time_bank_balance_after();

CREATE TRIGGER volunteer_hours_append_only BEFORE UPDATE OR DELETE ON volunteer_hours
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER volunteer_hours_no_truncate BEFORE TRUNCATE ON volunteer_hours
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER time_bank_ledger_append_only BEFORE UPDATE OR DELETE ON time_bank_ledger
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER time_bank_ledger_no_truncate BEFORE TRUNCATE ON time_bank_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
