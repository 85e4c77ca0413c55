-- Active care (主动关爱, SPEC §5.3, issue 7 parts 1-2): outbound work items (the month's care
-- visits, the stricter cadence of high-risk elders, follow-ups after an alarm, inactive elders),
-- every attempt's record, and the append-only log of each task's state changes.
-- (`care_plans` in 003 are recurring *service order* plans: unrelated.)

CREATE TABLE outreach_tasks (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('care_visit', 'inactivity', 'post_alarm')),
    -- why the elder is due: the monthly plan, the high-risk cadence, an alarm, inactivity
    reason          text NOT NULL CHECK (reason IN ('monthly', 'high_risk', 'after_alarm',
                                                    'inactivity')),
    elder_id        bigint NOT NULL REFERENCES elders (id),
    region_code     text NOT NULL REFERENCES regions (code),
    month           date NOT NULL CHECK (extract(day FROM month) = 1),  -- Asia/Shanghai month
    due_on          date NOT NULL,
    assigned_to     bigint REFERENCES users (id),
    state           text NOT NULL DEFAULT 'open'
                        CHECK (state IN ('open', 'done', 'home_visit', 'cancelled')),
    -- the retry ladder: call the elder (attempts 1-3), then the contacts, then a home visit
    step            text NOT NULL DEFAULT 'call' CHECK (step IN ('call', 'contacts', 'home_visit')),
    attempts        smallint NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 100),
    next_attempt_at timestamptz,
    outcome         text CHECK (outcome IN ('well', 'needs_service', 'needs_attention',
                                            'unreachable')),
    order_id        bigint REFERENCES orders (id),          -- home-visit or service order
    alarm_id        bigint REFERENCES alarms (id),          -- the alarm a post_alarm task follows
    raised_alarm_id bigint REFERENCES alarms (id),          -- the follow-up alarm it raised
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((kind = 'care_visit') = (reason IN ('monthly', 'high_risk'))),
    CHECK ((kind = 'inactivity') = (reason = 'inactivity')),
    CHECK ((kind = 'post_alarm') = (alarm_id IS NOT NULL)),
    CHECK (state <> 'home_visit' OR order_id IS NOT NULL)
);
-- At most one monthly visit per elder and month, one open task per elder for each of the
-- repeating reasons, and one follow-up per alarm, however many planners run.
CREATE UNIQUE INDEX outreach_one_monthly ON outreach_tasks (elder_id, month)
    WHERE reason = 'monthly';
CREATE UNIQUE INDEX outreach_one_open ON outreach_tasks (elder_id, reason)
    WHERE state = 'open' AND reason IN ('high_risk', 'inactivity');
CREATE UNIQUE INDEX outreach_one_per_alarm ON outreach_tasks (alarm_id)
    WHERE alarm_id IS NOT NULL;
CREATE INDEX outreach_open_idx ON outreach_tasks (region_code, next_attempt_at)
    WHERE state = 'open';
CREATE INDEX outreach_assigned_idx ON outreach_tasks (assigned_to) WHERE state = 'open';
CREATE INDEX outreach_month_idx ON outreach_tasks (month, region_code);
CREATE INDEX outreach_elder_idx ON outreach_tasks (elder_id, created_at);

-- Each attempt or visit, as it happened. Never updated or deleted.
CREATE TABLE care_visits (
    id              bigserial PRIMARY KEY,
    task_id         bigint NOT NULL REFERENCES outreach_tasks (id),
    elder_id        bigint NOT NULL REFERENCES elders (id),
    operator_id     bigint REFERENCES users (id),
    method          text NOT NULL CHECK (method IN ('phone', 'video', 'chance', 'home')),
    outcome         text NOT NULL CHECK (outcome IN ('well', 'needs_service', 'needs_attention',
                                                     'unreachable')),
    contact_reached boolean,
    step            text NOT NULL CHECK (step IN ('call', 'contacts', 'home_visit')),
    attempt         smallint NOT NULL CHECK (attempt >= 1),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    order_id        bigint REFERENCES orders (id),
    alarm_id        bigint REFERENCES alarms (id),
    at              timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX care_visits_elder_idx ON care_visits (elder_id, at);
CREATE INDEX care_visits_task_idx ON care_visits (task_id, at);
CREATE INDEX care_visits_at_idx ON care_visits (at);

-- Every state change of a task (created, attempt, covered by another task's visit, cancelled).
CREATE TABLE outreach_events (
    id              bigserial PRIMARY KEY,
    task_id         bigint NOT NULL REFERENCES outreach_tasks (id),
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_user_id   bigint REFERENCES users (id),
    actor_kind      text NOT NULL CHECK (actor_kind IN ('user', 'system', 'worker')),
    event           text NOT NULL,
    from_state      text,
    to_state        text NOT NULL,
    from_step       text,
    to_step         text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX outreach_events_task_idx ON outreach_events (task_id, id);

-- Which periodic care jobs have run (the month's plan, the day's sweep), so several workers
-- and restarts run each once.
CREATE TABLE care_runs (
    kind            text NOT NULL CHECK (kind IN ('month_plan', 'daily_sweep')),
    period          date NOT NULL,
    ran_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail          jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (kind, period)
);

CREATE TRIGGER care_visits_append_only BEFORE UPDATE OR DELETE ON care_visits
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER care_visits_no_truncate BEFORE TRUNCATE ON care_visits
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER outreach_events_append_only BEFORE UPDATE OR DELETE ON outreach_events
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER outreach_events_no_truncate BEFORE TRUNCATE ON outreach_events
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- "Needs attention" after a care call raises a follow-up in the operators' alarm queue.
ALTER TABLE alarms DROP CONSTRAINT IF EXISTS alarms_kind_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_kind_check CHECK (kind IN ('sos', 'fall', 'wander',
    'smoke', 'gas', 'water', 'door', 'inactivity', 'low_battery', 'missed_visit',
    'care_attention'));
