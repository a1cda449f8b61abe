-- livescore schema, PostgreSQL. Never edit an applied migration: add a new one.

-- Settings of this history: `epoch` (set once), `seq_floor`, `clean_seq`.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every published event with its id: the resume history. `data` is TEXT,
-- not JSONB, so a replayed event is byte for byte what was streamed.
CREATE TABLE events (
    epoch BIGINT      NOT NULL,
    seq   BIGINT      NOT NULL,
    topic TEXT        NOT NULL,
    event TEXT        NOT NULL,
    data  TEXT        NOT NULL,
    at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (epoch, seq)
);
CREATE INDEX events_topic ON events (topic, event, epoch, seq);

-- Each game's current state (the data of its latest `game` event).
CREATE TABLE games (
    eid        TEXT PRIMARY KEY,
    data       TEXT        NOT NULL,
    epoch      BIGINT      NOT NULL,
    seq        BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Every ScoreEvent, ordered per game by the id of the event that carried it.
CREATE TABLE score_events (
    id         TEXT PRIMARY KEY,
    eid        TEXT        NOT NULL,
    team       TEXT        NOT NULL,
    points     INTEGER     NOT NULL,
    quarter    TEXT        NOT NULL,
    clock      TEXT,
    home_score INTEGER     NOT NULL,
    away_score INTEGER     NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    epoch      BIGINT      NOT NULL,
    seq        BIGINT      NOT NULL
);
CREATE INDEX score_events_game ON score_events (eid, epoch, seq);
