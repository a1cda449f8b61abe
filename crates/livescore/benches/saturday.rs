//! A Saturday with every feed on (issue 37): 144 games in five leagues
//! (60 college football, 50 college basketball, 12 NBA, 12 NHL, 10 Premier
//! League), each league's ESPN document as ESPN serves it (real events of
//! `tests/fixtures/espn-sports`, repeated under new ids to the slate's
//! size), all polled in one round.
//!
//! `saturday/poll cycle`: one round of every feed, one game's score moved:
//! parse each league's document, diff it against the last (`Tracker`),
//! encode the league board that changed, and make `scores` from the league
//! boards (`feed::union`) with the patch a `?delta=true` subscriber gets
//! (`hub::patch`). Before it runs, the bench prints the bytes one change
//! costs such a subscriber against the whole board, and checks the patch
//! names the one game that changed and no other league's.
//!
//! `cargo bench -p livescore --bench saturday`; figures in docs/BENCHMARKS.md.

use std::hint::black_box;

use bytes::Bytes;
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use livescore::bus::Envelope;
use livescore::feed::union::Union;
use livescore::feed::{format, json, Tracker};
use livescore::hub::patch::board_patch;
use livescore::model::{self, EventId};
use serde_json::Value;

/// (fixture, league, games on the slate)
const SLATE: &[(&str, &str, usize)] = &[
    (
        "college-football-2025-week1-scheduled.json",
        "college-football",
        60,
    ),
    (
        "mens-college-basketball-2025-final-ot.json",
        "mens-college-basketball",
        50,
    ),
    ("nba-2024-12-15-final.json", "nba", 12),
    ("nhl-2025-06-04-live-overtime.json", "nhl", 12),
    ("eng1-2025-05-25-full-time.json", "eng.1", 10),
];

/// The fixture's document with its events repeated to `n`, each copy under
/// a new id; `bump` adds a point to the first game's home side.
fn document(fixture: &str, n: usize, bump: bool) -> Bytes {
    let path = format!(
        "{}/../../tests/fixtures/espn-sports/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut doc: Value = serde_json::from_str(&text).expect("json");
    let events = doc["events"].as_array().expect("events").clone();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut ev = events[i % events.len()].clone();
        let id = format!("{}{:03}", ev["id"].as_str().expect("id"), i);
        ev["id"] = Value::String(id.clone());
        ev["competitions"][0]["id"] = Value::String(id);
        out.push(ev);
    }
    if bump {
        let side = &mut out[0]["competitions"][0]["competitors"][0];
        let score: u32 = side["score"].as_str().unwrap_or("0").parse().unwrap_or(0);
        side["score"] = Value::String((score + 1).to_string());
    }
    doc["events"] = Value::Array(out);
    Bytes::from(serde_json::to_vec(&doc).expect("json"))
}

/// Every league's state between rounds.
struct Round {
    trackers: Vec<Tracker>,
    union: Union,
    board: Bytes,
    seq: u64,
}

impl Round {
    fn new() -> Self {
        Self {
            trackers: SLATE.iter().map(|_| Tracker::new()).collect(),
            union: Union::default(),
            board: Bytes::new(),
            seq: 0,
        }
    }

    /// One poll of every feed; returns the `scores` board and its patch.
    fn poll(&mut self, docs: &[Bytes]) -> (Bytes, Option<Bytes>) {
        for (i, doc) in docs.iter().enumerate() {
            let board = format::parse(doc, None).expect("parses");
            let league = board.league.clone();
            let changes = self.trackers[i].apply(board, Utc::now());
            if let Some(week) = changes.week {
                self.seq += 1;
                self.union.observe(&Envelope {
                    id: EventId::new(1, self.seq),
                    topic: model::board_topic(&league),
                    event: model::EVENT_UPDATE.into(),
                    data: json(&week.games),
                    published_us: 0,
                });
            }
        }
        let after = self.union.board().expect("a board");
        let patch = board_patch(&self.board, &after);
        self.board = after.clone();
        (after, patch)
    }
}

fn saturday(c: &mut Criterion) {
    let plain: Vec<Bytes> = SLATE
        .iter()
        .map(|(f, _, n)| document(f, *n, false))
        .collect();
    let mut bumped = plain.clone();
    // The NBA's first game scores.
    bumped[2] = document(SLATE[2].0, SLATE[2].2, true);

    let mut round = Round::new();
    let (board, _) = round.poll(&plain);
    let games: Vec<Value> = serde_json::from_slice(&board).expect("board");
    assert_eq!(games.len(), SLATE.iter().map(|s| s.2).sum::<usize>());
    let (_, patch) = round.poll(&bumped);
    let patch = patch.expect("one game changed: a patch");
    let keys: Vec<String> = serde_json::from_slice::<serde_json::Map<String, Value>>(&patch)
        .expect("patch")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys.len(), 1, "one game in the patch: {keys:?}");
    println!(
        "saturday: {} games, {} bytes per document round; a score change costs a delta \
         subscriber of `scores` {} bytes of patch against a {} byte board ({:.2}%)",
        games.len(),
        plain.iter().map(Bytes::len).sum::<usize>(),
        patch.len(),
        board.len(),
        100.0 * patch.len() as f64 / board.len() as f64
    );

    let mut group = c.benchmark_group("saturday");
    let mut flip = false;
    group.bench_function("poll cycle (144 games, 5 leagues, one change)", |b| {
        b.iter(|| {
            flip = !flip;
            let docs = if flip { &bumped } else { &plain };
            black_box(round.poll(docs))
        })
    });
    group.finish();
}

criterion_group!(benches, saturday);
criterion_main!(benches);
