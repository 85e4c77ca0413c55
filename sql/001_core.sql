-- Anxin core records (SPEC §2-3): regions, users, elders, devices, providers, staff, catalogue,
-- calls, the append-only event log and the audit log.

-- Regions: GB/T 2260 codes, four levels. `path` is the chain of codes from the city down,
-- joined by '.', so "everything below region X" is `path LIKE X.path || '%'`.
CREATE TABLE regions (
    code            text PRIMARY KEY CHECK (code ~ '^[0-9]{6}([0-9]{3}){0,2}$'),
    parent_code     text REFERENCES regions (code),
    level           text NOT NULL CHECK (level IN ('city', 'district', 'town', 'community')),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    name_en         text NOT NULL DEFAULT '',
    kind            text NOT NULL CHECK (kind IN ('urban', 'rural')),
    service_radius_m integer NOT NULL CHECK (service_radius_m BETWEEN 100 AND 100000),
    service_minutes integer NOT NULL CHECK (service_minutes BETWEEN 1 AND 240),
    center_lat      double precision CHECK (center_lat BETWEEN -90 AND 90),
    center_lon      double precision CHECK (center_lon BETWEEN -180 AND 180),
    path            text NOT NULL UNIQUE,
    CHECK ((level = 'city') = (parent_code IS NULL))
);
CREATE INDEX regions_parent_idx ON regions (parent_code);
CREATE INDEX regions_path_idx ON regions (path text_pattern_ops);

CREATE TABLE providers (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    name_en         text NOT NULL DEFAULT '',
    licence_no      text NOT NULL UNIQUE CHECK (length(licence_no) BETWEEN 4 AND 40),
    phone           text NOT NULL,
    address         text NOT NULL DEFAULT '',
    region_code     text NOT NULL REFERENCES regions (code),
    star_rating     numeric(2, 1) NOT NULL DEFAULT 3.0 CHECK (star_rating BETWEEN 0 AND 5),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX providers_region_idx ON providers (region_code);

CREATE TABLE provider_regions (
    provider_id     bigint NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    region_code     text NOT NULL REFERENCES regions (code),
    PRIMARY KEY (provider_id, region_code)
);
CREATE INDEX provider_regions_region_idx ON provider_regions (region_code);

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.-]{3,40}$'),
    display_name    text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 60),
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN
                        ('admin', 'supervisor', 'operator', 'provider_admin', 'provider_staff')),
    region_code     text NOT NULL REFERENCES regions (code),
    provider_id     bigint REFERENCES providers (id),
    skills          text[] NOT NULL DEFAULT '{}',
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- provider roles belong to a provider; the others never do
    CHECK ((role IN ('provider_admin', 'provider_staff')) = (provider_id IS NOT NULL))
);
CREATE INDEX users_region_idx ON users (region_code);

-- Login sessions: only the SHA-256 of the cookie token is stored.
CREATE TABLE sessions (
    token_hash      bytea PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    ip              inet,
    user_agent      text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE elders (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    id_number       char(18) NOT NULL UNIQUE CHECK (id_number ~ '^[0-9]{17}[0-9X]$'),
    sex             char(1) NOT NULL CHECK (sex IN ('M', 'F')),
    birth_date      date NOT NULL,
    phones          text[] NOT NULL DEFAULT '{}' CHECK (cardinality(phones) <= 5),
    address         text NOT NULL DEFAULT '' CHECK (length(address) <= 200),
    region_code     text NOT NULL REFERENCES regions (code),
    lat             double precision CHECK (lat BETWEEN 0.8 AND 55.9),   -- WGS-84 as received
    lon             double precision CHECK (lon BETWEEN 72.0 AND 137.9),
    lat_gcj02       double precision,                                    -- GCJ-02 for maps
    lon_gcj02       double precision,
    risk_groups     text[] NOT NULL DEFAULT '{}' CHECK (risk_groups <@ ARRAY[
                        '独居', '空巢', '留守', '失能', '重残', '计生特殊', '高龄', '低保', '特困',
                        '优抚']::text[]),
    care_level      smallint NOT NULL DEFAULT 0 CHECK (care_level BETWEEN 0 AND 5),
    medical_notes   text NOT NULL DEFAULT '' CHECK (length(medical_notes) <= 2000),
    consent         boolean NOT NULL DEFAULT false,
    consent_at      timestamptz,
    status          text NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'suspended', 'moved', 'deceased')),
    preferred_provider_id bigint REFERENCES providers (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((lat IS NULL) = (lon IS NULL)),
    CHECK (NOT consent OR consent_at IS NOT NULL)
);
CREATE INDEX elders_region_idx ON elders (region_code);
CREATE INDEX elders_phones_idx ON elders USING gin (phones);
CREATE INDEX elders_name_idx ON elders (name text_pattern_ops);

CREATE TABLE elder_contacts (
    elder_id        bigint NOT NULL REFERENCES elders (id) ON DELETE CASCADE,
    position        smallint NOT NULL CHECK (position BETWEEN 1 AND 10),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    phone           text NOT NULL,
    relation        text NOT NULL DEFAULT '' CHECK (length(relation) <= 20),
    PRIMARY KEY (elder_id, position)
);
CREATE INDEX elder_contacts_phone_idx ON elder_contacts (phone);

CREATE TABLE devices (
    id              bigserial PRIMARY KEY,
    serial          text NOT NULL UNIQUE CHECK (serial ~ '^[A-Za-z0-9_-]{4,64}$'),
    kind            text NOT NULL CHECK (kind IN
                        ('sos_phone', 'bracelet', 'fall_sensor', 'smoke', 'gas', 'water', 'door', 'bed')),
    elder_id        bigint REFERENCES elders (id),
    -- The HMAC key the device signs its events with; needed in clear to verify signatures.
    secret          text NOT NULL CHECK (length(secret) >= 16),
    secret_rotated_at timestamptz NOT NULL DEFAULT now(),
    geofence_lat    double precision,
    geofence_lon    double precision,
    geofence_radius_m integer CHECK (geofence_radius_m BETWEEN 50 AND 50000),
    last_heartbeat_at timestamptz,
    battery         smallint CHECK (battery BETWEEN 0 AND 100),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((geofence_lat IS NULL) = (geofence_lon IS NULL)
           AND (geofence_lat IS NULL) = (geofence_radius_m IS NULL))
);
CREATE INDEX devices_elder_idx ON devices (elder_id);

CREATE TABLE skills (
    code            text PRIMARY KEY CHECK (code ~ '^[a-z_]{2,30}$'),
    name_zh         text NOT NULL,
    name_en         text NOT NULL
);

CREATE TABLE staff (
    id              bigserial PRIMARY KEY,
    provider_id     bigint NOT NULL REFERENCES providers (id),
    user_id         bigint UNIQUE REFERENCES users (id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    phone           text NOT NULL,
    certificates    text[] NOT NULL DEFAULT '{}',
    shift_start     time NOT NULL DEFAULT '08:00',
    shift_end       time NOT NULL DEFAULT '18:00',
    home_lat        double precision CHECK (home_lat BETWEEN 0.8 AND 55.9),
    home_lon        double precision CHECK (home_lon BETWEEN 72.0 AND 137.9),
    capacity        smallint NOT NULL DEFAULT 3 CHECK (capacity BETWEEN 1 AND 20),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((home_lat IS NULL) = (home_lon IS NULL))
);
CREATE INDEX staff_provider_idx ON staff (provider_id);

CREATE TABLE staff_skills (
    staff_id        bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    skill_code      text NOT NULL REFERENCES skills (code),
    PRIMARY KEY (staff_id, skill_code)
);

CREATE TABLE service_categories (
    code            text PRIMARY KEY CHECK (code ~ '^[a-z_]{2,30}$'),
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    sort_order      smallint NOT NULL DEFAULT 0
);

CREATE TABLE service_items (
    code            text PRIMARY KEY CHECK (code ~ '^[A-Z]{2}[0-9]{3}$'),
    category_code   text NOT NULL REFERENCES service_categories (code),
    name_zh         text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 60),
    name_en         text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 100),
    unit            text NOT NULL CHECK (unit IN ('次', '小时', '份', '天', '月')),
    price_cents     integer NOT NULL CHECK (price_cents >= 0),
    duration_min    integer NOT NULL CHECK (duration_min BETWEEN 1 AND 1440),
    target_response_min integer NOT NULL CHECK (target_response_min BETWEEN 1 AND 10080),
    subsidy_eligible boolean NOT NULL DEFAULT false,
    skill_code      text NOT NULL REFERENCES skills (code),
    active          boolean NOT NULL DEFAULT true
);
CREATE INDEX service_items_category_idx ON service_items (category_code);

CREATE TABLE provider_items (
    provider_id     bigint NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    item_code       text NOT NULL REFERENCES service_items (code),
    PRIMARY KEY (provider_id, item_code)
);

-- Every inbound and outbound call; alarm/order/visit links are added by their own migrations.
CREATE TABLE calls (
    id              bigserial PRIMARY KEY,
    external_id     text NOT NULL UNIQUE,
    direction       text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    ani             text NOT NULL,
    dnis            text NOT NULL,
    elder_id        bigint REFERENCES elders (id),
    operator_id     bigint REFERENCES users (id),
    state           text NOT NULL DEFAULT 'ringing'
                        CHECK (state IN ('ringing', 'answered', 'ended', 'abandoned')),
    ringing_at      timestamptz NOT NULL,
    answered_at     timestamptz,
    ended_at        timestamptz,
    disposition     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (answered_at IS NULL OR answered_at >= ringing_at),
    CHECK (ended_at IS NULL OR ended_at >= ringing_at)
);
CREATE INDEX calls_elder_idx ON calls (elder_id);
CREATE INDEX calls_ringing_idx ON calls (ringing_at);

-- The append-only event log: every state change of an alarm, order, visit or call is a row.
CREATE TABLE events (
    id              bigserial PRIMARY KEY,
    entity_type     text NOT NULL CHECK (entity_type IN ('alarm', 'order', 'visit', 'call')),
    entity_id       bigint NOT NULL,
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_user_id   bigint REFERENCES users (id),
    actor_kind      text NOT NULL CHECK (actor_kind IN
                        ('user', 'device', 'cti', 'system', 'worker', 'import')),
    from_state      text,
    to_state        text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_entity_idx ON events (entity_type, entity_id, id);

-- Who did what to which record: every full view of an elder, every change, every import.
CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    user_id         bigint REFERENCES users (id),
    action          text NOT NULL,
    entity_type     text NOT NULL,
    entity_id       text,
    request_id      text NOT NULL DEFAULT '',
    ip              inet,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id);
CREATE INDEX audit_log_user_idx ON audit_log (user_id, at);

-- Events and audit rows are never updated or deleted.
CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
