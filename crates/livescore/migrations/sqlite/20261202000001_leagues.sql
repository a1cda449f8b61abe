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
--    unit-tested against those functions), in the NFL, the one league
--    events were stored for before leagues existed.
-- The defaults only serve this backfill: the writer sets every column.

ALTER TABLE score_events ADD COLUMN league TEXT NOT NULL DEFAULT 'nfl';
ALTER TABLE score_events ADD COLUMN period INTEGER NOT NULL DEFAULT 0;
ALTER TABLE score_events ADD COLUMN period_label TEXT;

UPDATE score_events SET
    period = CASE quarter
        WHEN '1' THEN 1 WHEN '2' THEN 2 WHEN '3' THEN 3 WHEN '4' THEN 4
        WHEN '5' THEN 5 WHEN 'H' THEN 2 WHEN 'F' THEN 4 WHEN 'FO' THEN 5
        ELSE 0 END,
    period_label = CASE quarter
        WHEN '1' THEN 'Q1' WHEN '2' THEN 'Q2' WHEN '3' THEN 'Q3' WHEN '4' THEN 'Q4'
        WHEN '5' THEN 'OT' WHEN 'H' THEN 'Half' WHEN 'F' THEN 'Q4' WHEN 'FO' THEN 'OT'
        ELSE NULL END;

-- What the published event said wins; a field it did not carry (an event
-- from before leagues) keeps the value read from the quarter. json_type is
-- NULL for a missing key and 'null' for a JSON null: a null label is kept.
UPDATE score_events SET
    league = CASE WHEN json_type(e.data, '$.league') = 'text'
        THEN json_extract(e.data, '$.league') ELSE score_events.league END,
    period = CASE WHEN json_type(e.data, '$.period') = 'integer'
        THEN json_extract(e.data, '$.period') ELSE score_events.period END,
    period_label = CASE json_type(e.data, '$.period_label')
        WHEN 'text' THEN json_extract(e.data, '$.period_label')
        WHEN 'null' THEN NULL
        ELSE score_events.period_label END
FROM events AS e
WHERE e.epoch = score_events.epoch AND e.seq = score_events.seq
  AND e.event = 'score' AND json_valid(e.data);

-- A game's league is in its JSON as published (absent before leagues).
ALTER TABLE games ADD COLUMN league TEXT NOT NULL DEFAULT 'nfl';
UPDATE games SET league = json_extract(data, '$.league')
WHERE json_valid(data) AND json_type(data, '$.league') = 'text';

-- A league's games, by id.
CREATE INDEX games_league ON games (league, eid);
