-- Follow-up and quality (SPEC §5.5, issue 7 parts 5 and 6): follow-up calls after completed
-- orders (a per-provider sample), complaints with their append-only event log, and the history
-- of each provider's star rating with its breakdown.

-- Share of a provider's completed orders that get a follow-up call (decided per order by a
-- hash of its id, so the choice is reproducible).
ALTER TABLE providers ADD COLUMN followup_rate numeric(3, 2) NOT NULL DEFAULT 0.30
    CHECK (followup_rate BETWEEN 0 AND 1);

CREATE TABLE followups (
    id              bigserial PRIMARY KEY,
    order_id        bigint NOT NULL UNIQUE REFERENCES orders (id),
    elder_id        bigint NOT NULL REFERENCES elders (id),
    provider_id     bigint REFERENCES providers (id),
    region_code     text NOT NULL REFERENCES regions (code),   -- the elder's, for scoping
    state           text NOT NULL DEFAULT 'open'
                        CHECK (state IN ('open', 'answered', 'unreachable')),
    attempts        smallint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    channel         text CHECK (channel IN ('operator', 'sms', 'ivr')),
    satisfaction    smallint CHECK (satisfaction BETWEEN 1 AND 5),
    comment         text NOT NULL DEFAULT '' CHECK (length(comment) <= 500),
    answered_by     bigint REFERENCES users (id),
    answered_at     timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK ((state = 'answered') = (satisfaction IS NOT NULL)),
    CHECK ((state = 'answered') = (answered_at IS NOT NULL))
);
CREATE INDEX followups_open_idx ON followups (next_attempt_at) WHERE state = 'open';
CREATE INDEX followups_provider_idx ON followups (provider_id, answered_at)
    WHERE state = 'answered';

CREATE TABLE complaints (
    id              bigserial PRIMARY KEY,
    category        text NOT NULL CHECK (category IN ('attitude', 'quality', 'lateness',
                                                      'charges', 'safety', 'other')),
    elder_id        bigint NOT NULL REFERENCES elders (id),
    order_id        bigint REFERENCES orders (id),
    followup_id     bigint REFERENCES followups (id),
    provider_id     bigint NOT NULL REFERENCES providers (id),
    region_code     text NOT NULL REFERENCES regions (code),   -- the elder's, for scoping
    description     text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 2000),
    state           text NOT NULL DEFAULT 'open'
                        CHECK (state IN ('open', 'in_progress', 'resolved')),
    handler_id      bigint REFERENCES users (id),
    deadline_at     timestamptz NOT NULL,
    resolution      text NOT NULL DEFAULT '' CHECK (length(resolution) <= 2000),
    upheld          boolean,
    resolved_at     timestamptz,
    provider_note   text NOT NULL DEFAULT '' CHECK (length(provider_note) <= 1000),
    created_by      bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (state = 'open' OR handler_id IS NOT NULL),
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL)),
    CHECK (state <> 'resolved' OR (length(btrim(resolution)) > 0 AND upheld IS NOT NULL))
);
CREATE INDEX complaints_provider_idx ON complaints (provider_id, created_at);
CREATE INDEX complaints_open_idx ON complaints (deadline_at) WHERE state <> 'resolved';

-- Every change to a complaint, never updated or deleted.
CREATE TABLE complaint_events (
    id              bigserial PRIMARY KEY,
    complaint_id    bigint NOT NULL REFERENCES complaints (id),
    actor_user_id   bigint REFERENCES users (id),
    event           text NOT NULL CHECK (event IN ('create', 'assign', 'resolve', 'respond')),
    from_state      text,
    to_state        text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX complaint_events_complaint_idx ON complaint_events (complaint_id, id);
CREATE TRIGGER complaint_events_append_only BEFORE UPDATE OR DELETE ON complaint_events
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER complaint_events_no_truncate BEFORE TRUNCATE ON complaint_events
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- One row per computation: the nightly run writes one per provider and Shanghai day (however
-- many workers race for it); an on-demand run appends more.
CREATE TABLE provider_ratings (
    id              bigserial PRIMARY KEY,
    provider_id     bigint NOT NULL REFERENCES providers (id),
    day             date NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('nightly', 'manual')),
    stars           numeric(2, 1) NOT NULL CHECK (stars BETWEEN 1 AND 5),
    kept            boolean NOT NULL,          -- too little data: the previous rating stands
    breakdown       jsonb NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX provider_ratings_nightly ON provider_ratings (provider_id, day)
    WHERE kind = 'nightly';
CREATE INDEX provider_ratings_provider_idx ON provider_ratings (provider_id, id);
CREATE TRIGGER provider_ratings_append_only BEFORE UPDATE OR DELETE ON provider_ratings
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
