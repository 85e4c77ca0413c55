-- Emergency alarms (SPEC §4.1, §5.1, §6): device events, alarms, operator presence, the outbox
-- that carries every live event and queue entry to Redis, and calls linked to alarms.

ALTER TABLE devices ADD COLUMN last_lat double precision;
ALTER TABLE devices ADD COLUMN last_lon double precision;
ALTER TABLE devices ADD COLUMN last_location_at timestamptz;
ALTER TABLE devices ADD COLUMN outside_geofence boolean NOT NULL DEFAULT false;

CREATE TABLE alarms (
    id              bigserial PRIMARY KEY,
    elder_id        bigint REFERENCES elders (id),
    device_id       bigint REFERENCES devices (id),
    region_code     text NOT NULL REFERENCES regions (code),
    kind            text NOT NULL CHECK (kind IN ('sos', 'fall', 'wander', 'smoke', 'gas', 'water',
                        'door', 'inactivity', 'low_battery')),
    priority        smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),  -- 1 most urgent
    state           text NOT NULL CHECK (state IN ('received', 'queued', 'offered',
                        'acknowledged', 'in_progress', 'resolved', 'closed')),
    escalation_level smallint NOT NULL DEFAULT 0 CHECK (escalation_level BETWEEN 0 AND 2),
    offered_to      bigint REFERENCES users (id),
    offered_at      timestamptz,
    next_escalation_at timestamptz,
    acknowledged_by bigint REFERENCES users (id),
    acknowledged_at timestamptz,
    outcome         text CHECK (outcome IN ('false_alarm', 'resolved_by_phone', 'contact_attended',
                        'provider_attended', 'ambulance', 'police', 'other')),
    outcome_note    text NOT NULL DEFAULT '',
    resolved_at     timestamptz,
    closed_at       timestamptz,
    lat             double precision,
    lon             double precision,
    lat_gcj02       double precision,
    lon_gcj02       double precision,
    source          text NOT NULL DEFAULT 'device' CHECK (source IN ('device', 'cti', 'system')),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (outcome IS NULL OR state IN ('resolved', 'closed')),
    CHECK (outcome <> 'other' OR outcome_note <> '')
);
CREATE INDEX alarms_open_idx ON alarms (region_code, priority, created_at)
    WHERE state NOT IN ('resolved', 'closed');
CREATE INDEX alarms_escalation_idx ON alarms (next_escalation_at)
    WHERE next_escalation_at IS NOT NULL;
CREATE INDEX alarms_elder_idx ON alarms (elder_id, created_at);
CREATE INDEX alarms_day_idx ON alarms (created_at);
-- One open condition alarm per device and kind: a wander excursion, a silence, a low battery
-- raise one alarm however many pings repeat it, whichever process sees them.
CREATE UNIQUE INDEX alarms_one_open_condition ON alarms (device_id, kind)
    WHERE state NOT IN ('resolved', 'closed') AND kind IN ('wander', 'inactivity', 'low_battery');

-- Every event a device sent, once: (device, event_id) is the idempotency key.
CREATE TABLE device_events (
    id              bigserial PRIMARY KEY,
    device_id       bigint NOT NULL REFERENCES devices (id),
    event_id        text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 100),
    type            text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    lat             double precision,
    lon             double precision,
    lat_gcj02       double precision,
    lon_gcj02       double precision,
    accuracy_m      double precision,
    battery         smallint,
    extra           jsonb NOT NULL DEFAULT '{}',
    alarm_id        bigint REFERENCES alarms (id),
    UNIQUE (device_id, event_id)
);
CREATE INDEX device_events_alarm_idx ON device_events (alarm_id);

-- Operators' duty and availability (truth here; Redis keeps a copy for fast reads).
CREATE TABLE operator_presence (
    user_id         bigint PRIMARY KEY REFERENCES users (id),
    on_duty         boolean NOT NULL DEFAULT false,
    available       boolean NOT NULL DEFAULT false,
    last_offered_at timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Transactional outbox: written in the same transaction as the change it announces; a relay
-- publishes it to Redis and marks it sent. Nothing answered 2xx is lost if Redis is down.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    topic           text NOT NULL CHECK (topic IN ('live')),
    kind            text NOT NULL,
    region_code     text REFERENCES regions (code),
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at         timestamptz
);
CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('anxin_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- On-site checks requested from an alarm become emergency service orders; the dispatch engine
-- (next issue) takes them from here.
CREATE TABLE orders (
    id              bigserial PRIMARY KEY,
    elder_id        bigint NOT NULL REFERENCES elders (id),
    item_code       text REFERENCES service_items (code),
    kind            text NOT NULL CHECK (kind IN ('emergency_check', 'service')),
    state           text NOT NULL DEFAULT 'created',
    priority        smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
    alarm_id        bigint REFERENCES alarms (id),
    note            text NOT NULL DEFAULT '',
    created_by      bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX orders_state_idx ON orders (state, created_at);

ALTER TABLE calls ADD COLUMN alarm_id bigint REFERENCES alarms (id);
ALTER TABLE calls ADD COLUMN order_id bigint REFERENCES orders (id);
CREATE INDEX calls_alarm_idx ON calls (alarm_id);
CREATE INDEX calls_ani_idx ON calls (ani, ringing_at);
