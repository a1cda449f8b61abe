-- Leagues (issue 37): each score change keeps its league, period and period
-- label, and each game its league, so an NBA history reads back as the
-- NBA's. Never edit an applied migration: add a new one.
--
-- Rows already stored are filled in, best source first:
-- 1. the event log, which holds each ScoreEvent as it was published (the
--    release before this migration already published league, period and
--    period_label; only the score_events table dropped them);
-- 2. else the quarter, read as Quarter::moment().period and
--    Quarter::period_label() read it (football rules; the CASEs below are
--    tested against those functions), in the NFL, the one league events
--    were stored for before leagues existed.
-- The defaults only serve this backfill: the writer sets every column.

ALTER TABLE score_events
    ADD COLUMN league       TEXT    NOT NULL DEFAULT 'nfl',
    ADD COLUMN period       INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN period_label TEXT;

UPDATE score_events SET
    period = CASE quarter
        WHEN '1' THEN 1 WHEN '2' THEN 2 WHEN '3' THEN 3 WHEN '4' THEN 4
        WHEN '5' THEN 5 WHEN 'H' THEN 2 WHEN 'F' THEN 4 WHEN 'FO' THEN 5
        ELSE 0 END,
    period_label = CASE quarter
        WHEN '1' THEN 'Q1' WHEN '2' THEN 'Q2' WHEN '3' THEN 'Q3' WHEN '4' THEN 'Q4'
        WHEN '5' THEN 'OT' WHEN 'H' THEN 'Half' WHEN 'F' THEN 'Q4' WHEN 'FO' THEN 'OT'
        ELSE NULL END;

-- `data` is TEXT; a value jsonb refuses (a \u0000 escape) must not stop
-- the upgrade, so it reads as NULL and that row keeps the quarter's values.
-- Dropped again below: it exists only for this migration.
CREATE FUNCTION livescore_try_jsonb(doc TEXT) RETURNS JSONB
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN doc::jsonb;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;

-- What the published event said wins; a field it did not carry (an event
-- from before leagues) keeps the value read from the quarter. `->` is SQL
-- NULL for a missing key and JSON null for a null one: a null label is kept.
UPDATE score_events AS s SET
    league = CASE WHEN jsonb_typeof(j.doc -> 'league') = 'string'
        THEN j.doc ->> 'league' ELSE s.league END,
    period = CASE WHEN jsonb_typeof(j.doc -> 'period') = 'number'
        THEN (j.doc ->> 'period')::INTEGER ELSE s.period END,
    period_label = CASE jsonb_typeof(j.doc -> 'period_label')
        WHEN 'string' THEN j.doc ->> 'period_label'
        WHEN 'null' THEN NULL
        ELSE s.period_label END
FROM (SELECT epoch, seq, livescore_try_jsonb(data) AS doc
      FROM events WHERE event = 'score') AS j
WHERE j.epoch = s.epoch AND j.seq = s.seq AND jsonb_typeof(j.doc) = 'object';

-- A game's league is in its JSON as published (absent before leagues).
ALTER TABLE games ADD COLUMN league TEXT NOT NULL DEFAULT 'nfl';
UPDATE games SET league = livescore_try_jsonb(data) ->> 'league'
WHERE jsonb_typeof(livescore_try_jsonb(data) -> 'league') = 'string';

DROP FUNCTION livescore_try_jsonb(TEXT);

-- A league's games, by id.
CREATE INDEX games_league ON games (league, eid);
