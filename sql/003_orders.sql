-- Service orders and dispatch (SPEC §5.2): the order's full life, offers to provider staff with
-- their deadlines, staff shifts, recurring care plans, and the missed-visit alert.
-- Every order transition appends a row to `events` (entity_type 'order').

ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_state_check;
ALTER TABLE orders ALTER COLUMN state SET DEFAULT 'created';
ALTER TABLE orders
    ADD COLUMN region_code      text REFERENCES regions (code),
    ADD COLUMN call_id          bigint REFERENCES calls (id),
    ADD COLUMN plan_id          bigint,
    ADD COLUMN source           text NOT NULL DEFAULT 'console'
                                    CHECK (source IN ('console', 'api', 'plan', 'alarm')),
    ADD COLUMN window_start     timestamptz,
    ADD COLUMN window_end       timestamptz,
    ADD COLUMN price_cents      integer NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    ADD COLUMN subsidy_eligible boolean NOT NULL DEFAULT false,
    ADD COLUMN staff_id         bigint REFERENCES staff (id),
    ADD COLUMN provider_id      bigint REFERENCES providers (id),
    ADD COLUMN widened          boolean NOT NULL DEFAULT false,
    ADD COLUMN reason           text NOT NULL DEFAULT '',   -- why no_candidate / cancelled / failed
    ADD COLUMN accepted_at      timestamptz,
    ADD COLUMN en_route_at      timestamptz,
    ADD COLUMN checked_in_at    timestamptz,
    ADD COLUMN checkin_distance_m integer,
    ADD COLUMN checked_out_at   timestamptz,
    ADD COLUMN checkout_note    text NOT NULL DEFAULT '',
    ADD COLUMN missed_alarm_id  bigint REFERENCES alarms (id),
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT clock_timestamp();

UPDATE orders o SET region_code = e.region_code FROM elders e WHERE e.id = o.elder_id;
UPDATE orders SET state = 'queued', source = 'alarm', item_code = 'EM001'
    WHERE state = 'created' AND kind = 'emergency_check'
      AND EXISTS (SELECT 1 FROM service_items WHERE code = 'EM001');
ALTER TABLE orders ALTER COLUMN region_code SET NOT NULL;
ALTER TABLE orders ADD CONSTRAINT orders_state_check CHECK (state IN ('created', 'queued',
    'offered', 'accepted', 'en_route', 'on_site', 'completed', 'reviewed', 'no_candidate',
    'cancelled', 'failed'));
ALTER TABLE orders ADD CONSTRAINT orders_window_check
    CHECK (window_end IS NULL OR window_start IS NOT NULL AND window_end > window_start);
ALTER TABLE orders ADD CONSTRAINT orders_assigned_check
    CHECK ((state IN ('accepted', 'en_route', 'on_site', 'completed', 'reviewed'))
           <= (staff_id IS NOT NULL));

CREATE INDEX orders_active_idx ON orders (region_code, state)
    WHERE state NOT IN ('completed', 'reviewed', 'cancelled', 'failed');
CREATE INDEX orders_staff_idx ON orders (staff_id, created_at);
CREATE INDEX orders_provider_idx ON orders (provider_id, created_at);
CREATE INDEX orders_elder_idx ON orders (elder_id, created_at);
CREATE INDEX orders_window_idx ON orders (window_start) WHERE state = 'created';
CREATE INDEX orders_missed_idx ON orders (window_end)
    WHERE missed_alarm_id IS NULL AND state IN ('created', 'queued', 'offered', 'accepted',
                                                'en_route', 'no_candidate');

-- One row per offer made to one staff member. An order has at most one pending offer, except an
-- emergency check (three at once); it is accepted by at most one person, ever.
CREATE TABLE offers (
    id              bigserial PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES orders (id),
    staff_id        bigint NOT NULL REFERENCES staff (id),
    state           text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'accepted', 'declined', 'expired', 'withdrawn')),
    score           double precision NOT NULL,
    distance_m      integer NOT NULL,
    offered_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    answered_at     timestamptz,
    reason          text NOT NULL DEFAULT '',
    CHECK (expires_at > offered_at)
);
CREATE UNIQUE INDEX offers_once_per_staff ON offers (order_id, staff_id);
CREATE UNIQUE INDEX offers_one_acceptance ON offers (order_id) WHERE state = 'accepted';
CREATE INDEX offers_pending_idx ON offers (expires_at) WHERE state = 'pending';
CREATE INDEX offers_staff_idx ON offers (staff_id, offered_at);

-- Shift and fairness per staff member; the live location lives in Redis only (it comes back with
-- the next ping after Redis is lost).
CREATE TABLE staff_status (
    staff_id        bigint PRIMARY KEY REFERENCES staff (id),
    on_shift        boolean NOT NULL DEFAULT false,
    shift_changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_assigned_at timestamptz
);

-- Recurring care (family care beds): an item on given weekdays in a time window.
CREATE TABLE care_plans (
    id              bigserial PRIMARY KEY,
    elder_id        bigint NOT NULL REFERENCES elders (id),
    item_code       text NOT NULL REFERENCES service_items (code),
    weekdays        smallint[] NOT NULL CHECK (cardinality(weekdays) BETWEEN 1 AND 7
                        AND weekdays <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]),
    start_time      time NOT NULL,
    end_time        time NOT NULL,
    valid_from      date NOT NULL,
    valid_until     date,
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    active          boolean NOT NULL DEFAULT true,
    generated_until date,
    created_by      bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (end_time > start_time),
    CHECK (valid_until IS NULL OR valid_until >= valid_from)
);
CREATE INDEX care_plans_elder_idx ON care_plans (elder_id);
ALTER TABLE orders ADD CONSTRAINT orders_plan_fk FOREIGN KEY (plan_id) REFERENCES care_plans (id);
-- A plan makes one order per visit, however many generators run.
CREATE UNIQUE INDEX orders_plan_visit ON orders (plan_id, window_start) WHERE plan_id IS NOT NULL;

-- The carer did not arrive: an alert in the operators' alarm queue.
ALTER TABLE alarms DROP CONSTRAINT IF EXISTS alarms_kind_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_kind_check CHECK (kind IN ('sos', 'fall', 'wander',
    'smoke', 'gas', 'water', 'door', 'inactivity', 'low_battery', 'missed_visit'));
ALTER TABLE alarms ADD COLUMN order_id bigint REFERENCES orders (id);
CREATE UNIQUE INDEX alarms_one_missed_visit ON alarms (order_id) WHERE kind = 'missed_visit';

-- The outbox also carries dispatch entries, relayed by the workers to the dispatch streams.
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_topic_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_topic_check CHECK (topic IN ('live', 'dispatch'));
CREATE INDEX outbox_unsent_topic_idx ON outbox (topic, id) WHERE sent_at IS NULL;
-- Matching counts each candidate's offers still waiting for an answer.
CREATE INDEX offers_pending_staff_idx ON offers (staff_id) WHERE state = 'pending';
