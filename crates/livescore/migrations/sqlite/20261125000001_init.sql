-- livescore schema, SQLite. Never edit an applied migration: add a new one.

-- Settings of this history: `epoch` (set once), `seq_floor`, `clean_seq`.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Every published event with its id: the resume history.
CREATE TABLE events (
    epoch INTEGER NOT NULL,
    seq   INTEGER NOT NULL,
    topic TEXT    NOT NULL,
    event TEXT    NOT NULL,
    data  TEXT    NOT NULL,
    at    TEXT    NOT NULL,
    PRIMARY KEY (epoch, seq)
);
CREATE INDEX events_topic ON events (topic, event, epoch, seq);

-- Each game's current state (the data of its latest `game` event).
CREATE TABLE games (
    eid        TEXT PRIMARY KEY NOT NULL,
    data       TEXT    NOT NULL,
    epoch      INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    updated_at TEXT    NOT NULL
);

-- Every ScoreEvent, ordered per game by the id of the event that carried it.
CREATE TABLE score_events (
    id         TEXT PRIMARY KEY NOT NULL,
    eid        TEXT    NOT NULL,
    team       TEXT    NOT NULL,
    points     INTEGER NOT NULL,
    quarter    TEXT    NOT NULL,
    clock      TEXT,
    home_score INTEGER NOT NULL,
    away_score INTEGER NOT NULL,
    at         TEXT    NOT NULL,
    epoch      INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX score_events_game ON score_events (eid, epoch, seq);
